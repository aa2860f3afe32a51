"""Short-term forecasts: many short replications from the hospital's current state.

``run_forecast`` simulates from a :class:`~caretwin.sim.state.HospitalState` and summarises the
census of every resource pool (units held at each hour mark) by its median and 50%/90%
prediction intervals across replications; ``state_at`` captures a state from a simulation
trace. The recorded, audited operation is :func:`caretwin.services.forecast.forecast`.
"""

from __future__ import annotations

from caretwin.forecast.capture import state_at
from caretwin.forecast.run import QUANTILES, ForecastResult, run_forecast

__all__ = ["QUANTILES", "ForecastResult", "run_forecast", "state_at"]
