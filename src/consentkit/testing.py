"""Helpers for a site's own tests: visitors who consented, and a cookie check.

Nothing to install or configure: import and use them from plain pytest tests
(sync or async; no plugin needed). They need ``httpx`` (the test dependency
Starlette's ``TestClient`` uses too).

.. code-block:: python

    from consentkit.testing import (assert_no_cookies_before_consent,
                                    consent_client, consent_test_client)

    def test_analytics_page_for_a_visitor_who_accepted() -> None:
        with consent_test_client(app, granted={"analytics"}) as client:
            assert "gtag" in client.get("/").text

    async def test_the_same_with_asyncio() -> None:
        async with consent_client(app, granted=set()) as client:   # rejected all
            assert "gtag" not in (await client.get("/")).text

    def test_no_cookies_before_consent() -> None:
        assert_no_cookies_before_consent(app, ["/", "/reports"])

``granted=None`` (the default) is a visitor who has not decided yet;
``granted=set()`` one who rejected everything optional; required categories
are always granted. The consent cookie is forged with the middleware's own
signer, so no decision is written to the consent log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import anyio.from_thread
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit.consent import new_consent_id
from consentkit.middleware import ConsentMiddleware

__all__ = [
    "DEFAULT_BASE_URL",
    "ConsentMiddlewareNotFound",
    "LifespanError",
    "SetCookie",
    "assert_no_cookies_before_consent",
    "async_assert_no_cookies_before_consent",
    "consent_client",
    "consent_cookie",
    "consent_test_client",
    "cookies_before_consent",
    "find_consent_middleware",
    "running_app",
]

#: Where test requests are addressed unless told otherwise.
DEFAULT_BASE_URL = "http://testserver"
_MAX_DEPTH = 64


class ConsentMiddlewareNotFound(LookupError):
    """The app has no `ConsentMiddleware` in front of it."""


class LifespanError(RuntimeError):
    """The app's lifespan startup or shutdown failed."""


def find_consent_middleware(app: Any) -> ConsentMiddleware | None:
    """The `ConsentMiddleware` instance inside ``app``, or ``None``.

    Walks the wrapped apps: Starlette and FastAPI keep their middleware in
    ``middleware_stack`` (built here the way Starlette builds it on its first
    request, if it has not been yet); ASGI wrappers keep the app they wrap
    in ``.app``.
    """
    todo: list[tuple[Any, int]] = [(app, 0)]
    seen: set[int] = set()
    while todo:
        obj, depth = todo.pop(0)
        if obj is None or id(obj) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(obj))
        if isinstance(obj, ConsentMiddleware):
            return obj
        build = getattr(obj, "build_middleware_stack", None)
        if callable(build) and getattr(obj, "middleware_stack", False) is None:
            # Starlette does exactly this on its first request.
            obj.middleware_stack = build()
        for attribute in ("middleware_stack", "app"):
            try:
                child = getattr(obj, attribute, None)
            except Exception:  # a property that fails is simply not a wrapped app
                continue
            if child is not None and callable(child):
                todo.append((child, depth + 1))
    return None


def _require_middleware(app: Any) -> ConsentMiddleware:
    middleware = find_consent_middleware(app)
    if middleware is None:
        raise ConsentMiddlewareNotFound(
            f"no ConsentMiddleware found in {type(app).__name__!r}: wrap the app "
            "(app = ConsentMiddleware(app, config=...)) or add it "
            "(app.add_middleware(ConsentMiddleware, config=...))"
        )
    return middleware


def consent_cookie(
    app: Any,
    granted: Iterable[str],
    *,
    consent_id: str | None = None,
    decided_at: float | None = None,
) -> tuple[str, str]:
    """``(name, value)`` of a valid consent cookie for a visitor who granted ``granted``.

    Signed with the middleware's own codec (and current policy version); no
    decision is logged. Raises ``ValueError`` for a category the site does
    not declare.
    """
    middleware = app if isinstance(app, ConsentMiddleware) else _require_middleware(app)
    keys = set(granted)
    unknown = sorted(keys - middleware.all_keys)
    if unknown:
        raise ValueError(
            f"unknown categories {unknown}; this site declares {sorted(middleware.all_keys)}"
        )
    value = middleware.codec.encode(
        keys,
        consent_id or new_consent_id(),
        middleware.clock() if decided_at is None else decided_at,
    )
    return middleware.config.cookie_name, value


class _Lifespan:
    """Drives an app's lifespan startup and shutdown, as a server would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = False
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._to_app.get, self._send)
        except BaseException as exc:
            await self._from_app.put({"type": "consentkit.error", "error": exc})
        else:
            await self._from_app.put({"type": "consentkit.returned"})

    async def _send(self, message: Message) -> None:
        await self._from_app.put(message)

    async def startup(self) -> None:
        self._task = asyncio.create_task(self._run())
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] == "lifespan.startup.complete":
            self.supported = True
        elif message["type"] == "lifespan.startup.failed":
            await asyncio.gather(self._task, return_exceptions=True)
            raise LifespanError(f"the app's lifespan startup failed: {message.get('message', '')}")
        # Otherwise the app does not speak lifespan: carry on without it, as servers do.

    async def shutdown(self) -> None:
        if self._task is None:
            return
        if self.supported:
            await self._to_app.put({"type": "lifespan.shutdown"})
            message = await self._from_app.get()
            if message["type"] == "lifespan.shutdown.failed":
                raise LifespanError(
                    f"the app's lifespan shutdown failed: {message.get('message', '')}"
                )
        await asyncio.gather(self._task, return_exceptions=True)


def _with_state(app: ASGIApp, state: Mapping[str, Any]) -> ASGIApp:
    async def app_with_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            # A server hands every request a shallow copy of the lifespan state.
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return app_with_state


@contextlib.asynccontextmanager
async def running_app(app: ASGIApp, *, lifespan: bool = True) -> AsyncIterator[ASGIApp]:
    """Run ``app``'s lifespan around the block; yield the app to send requests to.

    The yielded app gives each request the lifespan state, as a server does.
    On the way out the consent middleware is shut down even when the app
    does not speak lifespan, so no writer thread is left behind.
    """
    middleware = find_consent_middleware(app)
    runner = _Lifespan(app)
    if lifespan:
        await runner.startup()
    try:
        yield _with_state(app, runner.state)
    finally:
        try:
            if lifespan:
                await runner.shutdown()
        finally:
            if middleware is not None:
                await middleware.shutdown()


@contextlib.asynccontextmanager
async def consent_client(
    app: ASGIApp,
    granted: Iterable[str] | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    lifespan: bool = True,
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on ``app`` for a visitor who granted ``granted``.

    ``None`` is a visitor who has not decided; an empty set one who rejected
    every optional category. The app's lifespan runs around the block.
    """
    middleware = _require_middleware(app)
    cookie = None if granted is None else consent_cookie(middleware, granted)
    async with running_app(app, lifespan=lifespan) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(
            transport=transport,
            base_url=base_url,
            headers=dict(headers or {}),
            follow_redirects=follow_redirects,
        ) as client:
            if cookie is not None:
                client.cookies.set(*cookie)
            yield client


class _PortalTransport(httpx.BaseTransport):
    """A sync transport that runs each request on the portal's event loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app: ASGIApp) -> None:
        self._portal = portal
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return self._portal.call(self._handle, request, body)

    async def _handle(self, request: httpx.Request, body: bytes) -> httpx.Response:
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=body
        )
        response = await self._asgi.handle_async_request(forwarded)
        content = await response.aread()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions=response.extensions,
        )


@contextlib.contextmanager
def consent_test_client(
    app: ASGIApp,
    granted: Iterable[str] | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    lifespan: bool = True,
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
) -> Iterator[httpx.Client]:
    """The synchronous `consent_client`: an ``httpx.Client``, no event loop needed.

    The app runs on an event loop in a helper thread for the whole block (so
    it also works from inside an async test).
    """
    middleware = _require_middleware(app)
    cookie = None if granted is None else consent_cookie(middleware, granted)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_app(app, lifespan=lifespan)) as asgi,
        httpx.Client(
            transport=_PortalTransport(portal, asgi),
            base_url=base_url,
            headers=dict(headers or {}),
            follow_redirects=follow_redirects,
        ) as client,
    ):
        if cookie is not None:
            client.cookies.set(*cookie)
        yield client


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header seen in a response."""

    name: str
    #: The request that got it, e.g. ``"GET /reports"``.
    request: str
    #: Whether the header deletes the cookie (``Max-Age=0`` or an ``Expires`` in the past).
    deletes: bool


def response_cookies(response: httpx.Response) -> list[SetCookie]:
    """The ``Set-Cookie`` headers of ``response`` and of the redirects that led to it."""
    seen: list[SetCookie] = []
    for hop in (*response.history, response):
        request = f"{hop.request.method} {hop.request.url.raw_path.decode('ascii', 'replace')}"
        for value in hop.headers.get_list("set-cookie"):
            name, _, rest = value.partition("=")
            seen.append(SetCookie(name.strip(), request, _deletes(rest)))
    return seen


def _deletes(rest: str) -> bool:
    for attribute in rest.split(";")[1:]:
        key, _, value = attribute.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if key == "max-age":
            with contextlib.suppress(ValueError):
                return int(value) <= 0
        elif key == "expires":
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                continue
            if when.timestamp() < time.time():
                return True
    return False


async def cookies_before_consent(
    app: ASGIApp,
    paths: Sequence[str] = ("/",),
    *,
    base_url: str = DEFAULT_BASE_URL,
    lifespan: bool = True,
) -> list[tuple[SetCookie, str]]:
    """Cookies a visitor with no decision gets that are not strictly necessary.

    Each is given with its category key, or ``"undeclared"``.
    """
    middleware = _require_middleware(app)
    offending: list[tuple[SetCookie, str]] = []
    async with consent_client(
        app, None, base_url=base_url, lifespan=lifespan, follow_redirects=True
    ) as client:
        for path in paths:
            response = await client.get(path)
            for cookie in response_cookies(response):
                if cookie.deletes:
                    continue
                category = middleware.cookies.category_of(cookie.name)
                if category is None or category not in middleware.required:
                    offending.append((cookie, category or "undeclared"))
    return offending


def _report(offending: list[tuple[SetCookie, str]]) -> str:
    lines = [f"{len(offending)} cookie(s) set before the visitor consented:"]
    lines += [
        f"  {cookie.request} set {cookie.name!r} ({category})" for cookie, category in offending
    ]
    return "\n".join(lines)


async def async_assert_no_cookies_before_consent(
    app: ASGIApp,
    paths: Sequence[str] = ("/",),
    *,
    base_url: str = DEFAULT_BASE_URL,
    lifespan: bool = True,
) -> None:
    """`assert_no_cookies_before_consent` for async tests."""
    offending = await cookies_before_consent(app, paths, base_url=base_url, lifespan=lifespan)
    if offending:
        raise AssertionError(_report(offending))


def assert_no_cookies_before_consent(
    app: ASGIApp,
    paths: Sequence[str] = ("/",),
    *,
    base_url: str = DEFAULT_BASE_URL,
    lifespan: bool = True,
) -> None:
    """Visit ``paths`` with no consent; fail if any non-necessary cookie is set.

    Raises ``AssertionError`` listing every offending cookie with the
    request that set it and its category (or ``undeclared``). Cookies that
    scripts set in the browser are not seen. Works in sync and async tests.
    """
    with anyio.from_thread.start_blocking_portal() as portal:
        offending = portal.call(
            lambda: cookies_before_consent(app, paths, base_url=base_url, lifespan=lifespan)
        )
    if offending:
        raise AssertionError(_report(offending))
