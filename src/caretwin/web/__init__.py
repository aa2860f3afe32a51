"""The web app of ``caretwin serve``: server-rendered pages (Jinja2) for every role.

Pages come through the ``register_pages`` plugin hook (CareTwin's own from
:mod:`caretwin.web.plugin`), are mounted beside the API by its app factory, and render the
typed results of the services. Sessions are server-side (:mod:`caretwin.services.sessions`);
see ``docs/web.md``.
"""

__all__: list[str] = []
