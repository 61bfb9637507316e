"""Django under ASGI: the visitor's consent in views and templates.

Wrap Django's ASGI application (in ``asgi.py``)::

    from django.core.asgi import get_asgi_application
    from consentkit import ConsentMiddleware

    application = ConsentMiddleware(get_asgi_application(), config=CONSENT_CONFIG)

and read the consent in a view with `get_consent` (``request.scope["state"]["consent"]``),
guard a view with `consent_required`, or add `context_processor` to
``TEMPLATES[...]["OPTIONS"]["context_processors"]`` for ``{% if consent.allows... %}``
(Django templates call methods without arguments, so there use
``consent.granted``: ``{% if "analytics" in consent.granted %}``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from consentkit.consent import Consent
from consentkit.consent import get_consent as _consent_of_scope

__all__ = ["consent_required", "context_processor", "get_consent"]

_View = TypeVar("_View", bound=Callable[..., Any])


def get_consent(request: Any) -> Consent:
    """The `Consent` of a Django request served under ASGI through `ConsentMiddleware`.

    Raises ``LookupError`` when the request did not come through the
    middleware (for example under WSGI, which has no ASGI scope).
    """
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        raise LookupError(
            "this Django request has no ASGI scope: serve the site with ASGI "
            "(get_asgi_application()) wrapped in ConsentMiddleware"
        )
    return _consent_of_scope(scope)


def context_processor(request: Any) -> dict[str, Any]:
    """A Django template context processor adding ``consent`` (None outside the middleware)."""
    try:
        return {"consent": get_consent(request)}
    except LookupError:
        return {"consent": None}


def _refusal(category: str) -> Any:
    from django.http import JsonResponse  # type: ignore[import-untyped, unused-ignore]

    response = JsonResponse(
        {"error": "consent_required", "detail": {"category": category}}, status=403
    )
    response["Cache-Control"] = "no-store"
    return response


def consent_required(category: str) -> Callable[[_View], _View]:
    """A view decorator: 403 ``{"error": "consent_required", ...}`` unless ``category`` is granted.

    Works on sync and async views.
    """

    def decorate(view: _View) -> _View:
        import inspect

        if inspect.iscoroutinefunction(view):
            coroutine_view: Callable[..., Awaitable[Any]] = view

            @functools.wraps(view)
            async def async_wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
                if not get_consent(request).allows(category):
                    return _refusal(category)
                return await coroutine_view(request, *args, **kwargs)

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(view)
            def sync_wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
                if not get_consent(request).allows(category):
                    return _refusal(category)
                return view(request, *args, **kwargs)

            wrapper = sync_wrapper
        result: _View = wrapper
        return result

    return decorate
