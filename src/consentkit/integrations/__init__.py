"""Framework helpers; each module imports its framework, so import only the one you use.

- ``consentkit.integrations.fastapi``: ``require_consent(key)`` and ``ConsentDep``.
- ``consentkit.integrations.django``: ``get_consent(request)`` under ASGI, a view
  decorator and a template context processor.
- ``consentkit.integrations.litestar``: ``get_consent(request)``, a dependency provider
  and ``wrap(app, config)``.

- ``consentkit.integrations.starlette``: ``install(app, config)``, which places the
  middleware correctly in a Starlette or FastAPI app whatever the ``add_middleware`` order.

Starlette and bare ASGI apps need nothing more than `consentkit.get_consent`.
"""
