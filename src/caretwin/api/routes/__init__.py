"""CareTwin's own API routers, one module per area, registered by :mod:`caretwin.api.plugin`."""
