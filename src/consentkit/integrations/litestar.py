"""Litestar: the visitor's consent from a Litestar ``Request``, and the app wrapped.

Wrap the whole Litestar app so the middleware also answers ``/consent`` and
``/privacy`` (Litestar runs ``DefineMiddleware`` middleware only for routes it
knows, so registered that way those two paths would be 404)::

    from consentkit.integrations.litestar import ConsentParam, provide_consent, wrap

    app = wrap(Litestar(route_handlers=[home], dependencies={"consent": provide_consent}), config)

    @get("/")
    async def home(consent: ConsentParam) -> dict[str, bool]:
        return {"analytics": consent.allows("analytics")}
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import Dependency, Provide

from consentkit.config import ConsentConfig
from consentkit.consent import Consent
from consentkit.consent import get_consent as _consent_of_scope
from consentkit.middleware import ConsentMiddleware

__all__ = ["ConsentParam", "get_consent", "provide_consent", "wrap"]


def get_consent(request: Any) -> Consent:
    """The `Consent` of a Litestar ``Request`` or ``WebSocket`` (from its ASGI scope)."""
    return _consent_of_scope(request.scope)


async def _provide(request: Request[Any, Any, Any]) -> Consent:
    return get_consent(request)


#: ``dependencies={"consent": provide_consent}`` injects the visitor's `Consent` as ``consent``.
provide_consent = Provide(_provide)


#: A handler parameter ``consent: ConsentParam`` receives ``provide_consent``'s value.
ConsentParam = Annotated[Consent, Dependency(kind="named")]


def wrap(app: Any, config: ConsentConfig) -> ConsentMiddleware:
    """``app`` behind `ConsentMiddleware` (lifespan included)."""
    return ConsentMiddleware(app, config=config)
