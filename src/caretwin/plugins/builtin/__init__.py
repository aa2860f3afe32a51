"""CareTwin's own plugins whose home package is costly to import (``caretwin.calibrate`` loads
scipy, ``caretwin.reports`` Jinja): a plugin module must be cheap to load, so these live here and
import their package inside the hook functions."""
