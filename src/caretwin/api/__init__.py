"""The HTTP API of ``caretwin serve`` (FastAPI on uvicorn), a front end beside the command line.

Nothing here is imported by ``caretwin --help`` or any other command: :mod:`caretwin.api.commands`
is the ``serve`` command's area, loaded by name like the CLI's own areas, and it imports FastAPI
and uvicorn inside the command. Routes come from the ``register_routers`` plugin hook, CareTwin's
own included (:mod:`caretwin.api.plugin`); every route declares its permission
(:mod:`caretwin.api.deps`) and renders what a service returns. See ``docs/api.md``.
"""
