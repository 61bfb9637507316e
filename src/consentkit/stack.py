"""The ASGI layers outside `ConsentMiddleware`, and the cookies they set past it.

consentkit must be the outermost layer that sets cookies: a ``Set-Cookie`` added
by a middleware that wraps it never passes its filter. `outer_layers` finds the
middleware between an app's entry point and its `ConsentMiddleware` (through
Starlette's built middleware stack and every wrapper's ``.app``, as
`consentkit.testing.find_consent_middleware` does); `CookieTrace` instruments
those layers so that, after each request, it tells which layer added which
cookie. `consentkit audit` uses both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit.middleware import ConsentMiddleware

__all__ = [
    "CookieTrace",
    "Layer",
    "litestar_middleware_before",
    "outer_layers",
    "sets_cookies_by_name",
]

_MAX_DEPTH = 64
#: Words in a middleware's name that say it sets cookies (sessions, CSRF tokens, ...).
_COOKIE_WORDS = ("session", "csrf", "xsrf", "cookie")


@dataclass
class Layer:
    """One ASGI object on the way from the app's entry point to `ConsentMiddleware`."""

    obj: Any
    #: The attribute of ``obj`` holding the next layer inward (``middleware_stack`` or ``app``).
    attribute: str

    @property
    def name(self) -> str:
        """The layer's class name, e.g. ``SessionMiddleware``."""
        return type(self.obj).__name__

    @property
    def qualified_name(self) -> str:
        """``module.QualName`` of the layer's class."""
        cls = type(self.obj)
        return f"{cls.__module__}.{cls.__qualname__}"


def outer_layers(app: Any) -> list[Layer] | None:
    """The layers wrapping ``app``'s `ConsentMiddleware`, outermost first.

    ``None`` when the middleware is not reached through ``middleware_stack``
    and ``.app`` (for example inside a mounted sub-application). Builds a
    Starlette stack that has not been built yet, as Starlette would.
    """
    path: list[Layer] = []
    obj = app
    seen: set[int] = set()
    for _ in range(_MAX_DEPTH):
        if isinstance(obj, ConsentMiddleware):
            return path
        if obj is None or id(obj) in seen:
            return None
        seen.add(id(obj))
        build = getattr(obj, "build_middleware_stack", None)
        if callable(build) and getattr(obj, "middleware_stack", False) is None:
            obj.middleware_stack = build()
        for attribute in ("middleware_stack", "app"):
            try:
                child = getattr(obj, attribute, None)
            except Exception:  # a failing property is not a wrapped app
                continue
            if child is not None and callable(child):
                path.append(Layer(obj, attribute))
                obj = child
                break
        else:
            return None
    return None


def sets_cookies_by_name(layer: Layer) -> bool:
    """Whether the layer's class name says it sets cookies (``SessionMiddleware``, CSRF ...)."""
    return _cookie_name(layer.name)


def _cookie_name(name: str) -> bool:
    return any(word in name.lower() for word in _COOKIE_WORDS)


def litestar_middleware_before(app: Any) -> list[str] | None:
    """For a Litestar app listing `ConsentMiddleware` in its own ``middleware``: the
    cookie-setting middleware listed before it (outside it), else ``None``.

    Litestar runs that list per route, outermost first, so consentkit there misses
    its own paths and every cookie of the middleware listed before it.
    """
    entries = getattr(app, "middleware", None)
    if not isinstance(entries, list) or not hasattr(app, "route_handler_method_map"):
        return None
    classes = [getattr(entry, "middleware", entry) for entry in entries]
    for index, cls in enumerate(classes):
        if isinstance(cls, type) and issubclass(cls, ConsentMiddleware):
            names = [getattr(c, "__name__", type(c).__name__) for c in classes[:index]]
            return [name for name in names if _cookie_name(name)]
    return None


class _Recorder:
    """Wraps one layer's inner app and remembers the cookie names it sent out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.last = set()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"set-cookie":
                        self.last.add(value.split(b"=", 1)[0].strip().decode("latin-1"))
            await send(message)

        await self.app(scope, receive, record)


class CookieTrace:
    """Records, at every layer boundary outside consentkit, the cookies sent out.

    Use as a context manager around requests made one at a time; `added`
    then names the layer that added each cookie the last response carried
    past consentkit. The layers are put back as they were on exit.
    """

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self._recorders: list[_Recorder] = []

    def __enter__(self) -> CookieTrace:
        for layer in self.layers:
            inner = getattr(layer.obj, layer.attribute)
            recorder = _Recorder(inner)
            setattr(layer.obj, layer.attribute, recorder)
            self._recorders.append(recorder)
        return self

    def __exit__(self, *exc: object) -> None:
        for layer, recorder in zip(self.layers, self._recorders, strict=True):
            setattr(layer.obj, layer.attribute, recorder.app)
        self._recorders = []

    def added(self, response_cookies: set[str]) -> dict[str, str]:
        """``{cookie: layer name}`` for cookies of the last response set outside consentkit."""
        found: dict[str, str] = {}
        # The recorder at index i holds what layer i's inner app (layer i+1, or
        # consentkit for the last one) sent; layer i adds what it sends beyond that.
        outputs = [rec.last for rec in self._recorders]
        for index, layer in enumerate(self.layers):
            inner = outputs[index]
            sent = outputs[index - 1] if index > 0 else response_cookies
            for name in sent - inner:
                found.setdefault(name, layer.name)
        return found
