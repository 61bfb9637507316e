"""Starlette and FastAPI: install consentkit so the middleware order cannot be wrong.

``app.add_middleware`` puts each new middleware *outside* the ones added before,
so a ``SessionMiddleware`` added after `ConsentMiddleware` wraps it and its cookie
reaches every visitor unfiltered. `install` takes the order out of the call order::

    from consentkit.integrations.starlette import install

    app = FastAPI()                      # or Starlette(...)
    install(app, config)                 # before or after the other add_middleware calls
    app.add_middleware(SessionMiddleware, secret_key=...)
    app.add_middleware(GZipMiddleware)

When Starlette builds its middleware stack (on the first request or lifespan),
consentkit is placed outside every other user middleware, so it sees every
``Set-Cookie``, and inside the middleware that only compress or guard the
connection (`OUTSIDE`: Starlette's ``GZipMiddleware``, ``TrustedHostMiddleware``,
``HTTPSRedirectMiddleware``, ``CORSMiddleware`` and the usual Brotli/zstd
compression middleware), so it sees HTML before it is encoded and its own
endpoints stay behind the host and https checks. Pass ``outside=`` for more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from consentkit.config import ConsentConfig
from consentkit.middleware import ConsentMiddleware

__all__ = ["OUTSIDE", "install", "order_middleware"]

#: Middleware (``module.QualName``) that stays outside consentkit: it sets no cookies,
#: compresses bodies, or refuses requests before any page (or consent endpoint) runs.
OUTSIDE = frozenset(
    {
        "starlette.middleware.gzip.GZipMiddleware",
        "starlette.middleware.trustedhost.TrustedHostMiddleware",
        "starlette.middleware.httpsredirect.HTTPSRedirectMiddleware",
        "starlette.middleware.cors.CORSMiddleware",
        "fastapi.middleware.gzip.GZipMiddleware",
        "brotli_asgi.BrotliMiddleware",
        "brotli_asgi._brotli_asgi.BrotliMiddleware",
        "starlette_compress.CompressMiddleware",
        "starlette_compress._compress.CompressMiddleware",
    }
)


def _name(cls: Any) -> str:
    return f"{getattr(cls, '__module__', '')}.{getattr(cls, '__qualname__', repr(cls))}"


def order_middleware(
    middleware: Iterable[Middleware], outside: Iterable[type] = ()
) -> list[Middleware]:
    """``middleware`` (outermost first, as in ``app.user_middleware``) in a safe order.

    Entries in `OUTSIDE` or ``outside`` first (in their own order), then
    `ConsentMiddleware`, then everything else (in its own order). Raises
    ``ValueError`` unless there is exactly one `ConsentMiddleware`.
    """
    extra = tuple(outside)
    names = OUTSIDE | {_name(cls) for cls in extra}
    entries = list(middleware)
    consent = [m for m in entries if _is_consent(m.cls)]
    if len(consent) != 1:
        raise ValueError(
            f"expected one ConsentMiddleware in the app's middleware, found {len(consent)}"
        )

    def stays_outside(entry: Middleware) -> bool:
        cls: Any = entry.cls
        return _name(cls) in names or (isinstance(cls, type) and issubclass(cls, extra))

    front = [m for m in entries if not _is_consent(m.cls) and stays_outside(m)]
    rest = [m for m in entries if not _is_consent(m.cls) and not stays_outside(m)]
    return [*front, *consent, *rest]


def _is_consent(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, ConsentMiddleware)


def install(app: Starlette, config: ConsentConfig, *, outside: Iterable[type] = ()) -> None:
    """Add `ConsentMiddleware` to ``app`` in the right place, whatever the call order.

    ``outside``: more middleware classes that must wrap consentkit (compression
    or connection guards that set no cookies). Raises ``RuntimeError`` if the app
    has started (Starlette refuses new middleware then) and ``ValueError`` if a
    `ConsentMiddleware` was added already.
    """
    if any(_is_consent(m.cls) for m in app.user_middleware):
        raise ValueError("this app has a ConsentMiddleware already; install it once")
    extra = tuple(outside)
    app.add_middleware(ConsentMiddleware, config=config)
    build: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_in_order() -> ASGIApp:
        app.user_middleware[:] = order_middleware(app.user_middleware, extra)
        return build()

    # Starlette calls self.build_middleware_stack() when it first runs.
    setattr(app, "build_middleware_stack", build_in_order)  # noqa: B010
