"""FastAPI: the visitor's consent as a dependency, and routes that need a category.

.. code-block:: python

    from consentkit.integrations.fastapi import ConsentDep, require_consent

    @app.get("/recommendations", dependencies=[Depends(require_consent("personalization"))])
    async def recommendations() -> dict[str, str]: ...

    @app.get("/")
    async def home(consent: ConsentDep) -> dict[str, bool]:
        return {"analytics": consent.allows("analytics")}

Without the category granted, ``require_consent`` answers 403 with
``{"error": "consent_required", "detail": {"category": "personalization"}}``.
It raises `ConsentRequired`; register your own exception handler for that
class to answer differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from consentkit.consent import Consent, get_consent

__all__ = ["ConsentDep", "ConsentRequired", "current_consent", "require_consent"]


class ConsentRequired(HTTPException):
    """The visitor has not granted a category a route needs (403)."""

    def __init__(self, category: str) -> None:
        super().__init__(403, detail={"category": category})
        self.category = category


async def consent_required_handler(request: Request, exc: Exception) -> Response:
    """Answer `ConsentRequired` with ``{"error": "consent_required", "detail": {...}}``."""
    assert isinstance(exc, ConsentRequired)
    return JSONResponse(
        {"error": "consent_required", "detail": {"category": exc.category}},
        status_code=403,
        headers={"cache-control": "no-store", "vary": "Cookie"},
    )


def current_consent(connection: HTTPConnection) -> Consent:
    """The visitor's `Consent` (a FastAPI dependency; HTTP and websockets)."""
    return get_consent(connection)


#: ``consent: ConsentDep`` in a path operation or dependency injects the visitor's `Consent`.
ConsentDep = Annotated[Consent, Depends(current_consent)]


def _ensure_handler(connection: HTTPConnection) -> None:
    # Starlette's ExceptionMiddleware shares its handler table through the scope.
    # Add ours unless the app has one for ConsentRequired already, so the
    # documented body needs no set-up.
    handlers: Any = connection.scope.get("starlette.exception_handlers")
    if handlers and isinstance(handlers[0], dict):
        handlers[0].setdefault(ConsentRequired, consent_required_handler)


def require_consent(category: str) -> Callable[[HTTPConnection], Consent]:
    """A dependency that lets the request through only if ``category`` is granted.

    It returns the `Consent`, so it also works as a parameter's dependency.
    """

    def dependency(connection: HTTPConnection) -> Consent:
        consent = get_consent(connection)
        if not consent.allows(category):
            _ensure_handler(connection)
            raise ConsentRequired(category)
        return consent

    dependency.__name__ = f"require_consent_{category}"
    return dependency
