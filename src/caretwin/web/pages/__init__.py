"""CareTwin's own page groups (one router per module, registered by :mod:`caretwin.web.plugin`)."""
