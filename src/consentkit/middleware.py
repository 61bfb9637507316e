"""`ConsentMiddleware`: the per-request path."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit.analytics import AnalyticsTracker
from consentkit.autoblock import AutoBlocker, Placeholders, TagRewriter
from consentkit.caching import private_headers
from consentkit.config import ConsentConfig
from consentkit.consent import Consent, ConsentCodec
from consentkit.cookies import CookiePolicy, parse_cookie_header
from consentkit.csp.endpoint import CSPReports
from consentkit.csp.policy import ConsentPolicy
from consentkit.declaration import Declaration, effective_categories
from consentkit.encoding import Codecs
from consentkit.endpoints import Endpoints
from consentkit.gpp import UsNatSignal
from consentkit.html import Assets, Renderer, csp_allows_inline_style
from consentkit.i18n import Translator
from consentkit.inject import MAX_BUFFERED, EncodedHtmlInjector, HtmlInjector
from consentkit.ip import ClientAddress
from consentkit.log import open_consent_log
from consentkit.log.checkpoint import CheckpointScheduler, CheckpointSink
from consentkit.log.keys import log_key_for, signing_key_for
from consentkit.regimes import RegimePolicy
from consentkit.regions import RegionResolver

__all__ = ["ConsentMiddleware"]

_logger = logging.getLogger("consentkit")

# Caches keep only small keys, so a flood of huge headers cannot fill memory.
_MAX_CACHED_HEADER = 1024
# 206: a range of the body, which the fragment would corrupt (compressed or not).
_NO_INJECT_STATUS = frozenset({204, 206, 304})


class ConsentMiddleware:
    """Keeps an ASGI app honest about cookies.

    Every HTTP and websocket request gets the visitor's verified `Consent`
    (``get_consent(request)``, ``request.state.consent``); the consent
    endpoints and the privacy page are answered here; cookies the visitor
    has not agreed to never leave; HTML pages get the snippet, and the
    banner until the visitor decides.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: ConsentConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.config = config
        self.clock = clock
        self.categories = effective_categories(config)
        self.translator = Translator(config)
        self.declarations = {
            lang: Declaration(config, self.categories, self.translator, lang)
            for lang in config.languages
        }
        self.all_keys = frozenset(c.key for c in self.categories)
        self.required = frozenset(c.key for c in self.categories if c.required)
        #: What Global Privacy Control turns off: ``gpc_opt_out`` and ``sale_or_share``.
        self.gpc_keys = frozenset(
            c.key for c in self.categories if (c.gpc_opt_out or c.sale_or_share) and not c.required
        )
        self.codec = ConsentCodec(
            config.secret_keys,
            config.policy_version,
            required=self.required,
            known=self.all_keys,
            max_age=int(config.consent_lifetime.total_seconds()),
            cache_size=config.token_cache_size,
            clock=clock,
        )
        self.cookies = CookiePolicy(
            self.categories, config.undeclared_cookies, config.cookie_domain
        )
        self.log_key = log_key_for(config.log_key, config.secret_keys)
        self.signing_key = signing_key_for(config.log_signing_key, self.log_key)
        self.log = open_consent_log(
            config.storage, self.log_key, clock=clock, signer=self.signing_key
        )
        self.checkpoints = CheckpointScheduler(
            config.storage,
            self.signing_key,
            CheckpointSink(config.log_checkpoint_sink) if config.log_checkpoint_sink else None,
            config.log_checkpoint_interval,
            ready=lambda: self.log.written,
        )
        self.addresses = ClientAddress(config.trusted_proxies)
        self.regions = RegionResolver(config.regions, config.region_source, self.addresses)
        #: The GPP ``usnat`` strings, when some region has the ``us_opt_out`` regime.
        self.gpp = (
            UsNatSignal(
                (c.key for c in self.categories if c.sale_or_share), config.token_cache_size
            )
            if any(rule.regime == "us_opt_out" for rule in config.regions)
            else None
        )
        self.regimes = RegimePolicy(
            self.required, self.all_keys, (c.key for c in self.categories if c.sale_or_share)
        )
        self.assets = Assets(config.prefix)
        self.renderer = Renderer(config, self.declarations, self.assets)
        self.tracker = (
            AnalyticsTracker(config, clock=clock, is_https=self.is_https)
            if config.analytics
            else None
        )
        self.endpoints = Endpoints(self)
        self.csp = ConsentPolicy(config, self.categories) if config.csp != "off" else None
        self.csp_reports = (
            CSPReports(config, self.categories, clock=clock)
            if self.csp is not None and config.csp_reports
            else None
        )
        #: Content codings HTML can be inserted into, and those met but not handled.
        self.codecs = Codecs()
        #: Automatic blocking (``auto_block``): the rules per granted set, the placeholders.
        self.autoblock = AutoBlocker(self.categories) if config.auto_block else None
        self.placeholders = Placeholders(
            self.declarations,
            config.default_language,
            config.prefix,
            config.privacy_path,
            self.assets.css_url,
        )
        self._cookie_name = config.cookie_name
        self._visitor_cookie = config.analytics.cookie_name if config.analytics else ""
        self._prefix = config.prefix
        self._prefix_slash = config.prefix + "/"
        self._privacy = config.privacy_path
        self._inject = config.insert_snippet or config.insert_banner
        self._parsed: dict[bytes, _Visit] = {}
        self._parsed_size = max(1, config.token_cache_size)
        self._started = False
        # Per-visitor responses vary by the consent cookie and by the headers the region is
        # read from (a region from the client's address is covered by Cache-Control: private).
        self._vary = (b"Cookie", *(name.encode() for name in self.regions.vary))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        if not self._started:
            await self.startup()

        cookie_header = b""
        gpc = False
        for name, value in scope["headers"]:
            if name == b"cookie":
                # HTTP/2 may split cookies over several headers.
                cookie_header = cookie_header + b"; " + value if cookie_header else value
            elif name == b"sec-gpc":
                gpc = value.strip() == b"1"
        visit = self._read_cookies(cookie_header) if cookie_header else _NO_COOKIES
        cookies = visit.cookies
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        jurisdiction = state["jurisdiction"] = self.regions.resolve(scope)
        consent = self.regimes.effective(self.codec.decode(visit.token), jurisdiction)
        reissue: list[bytes] = []
        if gpc:
            consent, reissue = await self.endpoints.apply_gpc(scope, consent)
        if self.gpp is not None and jurisdiction.regime == "us_opt_out":
            consent = self.gpp.attach(consent)
        state["consent"] = consent

        path: str = scope["path"]
        if kind == "http" and (
            path == self._prefix or path == self._privacy or path.startswith(self._prefix_slash)
        ):
            await self.endpoints.handle(scope, receive, send, consent, cookies)
            return

        stale = (
            []
            if visit.categories <= consent.granted
            else self.cookies.stale(cookies, consent.granted)
        )
        extra = self.cookies.expiries(stale) if stale else []
        if reissue:
            extra += reissue
        if kind == "websocket":
            await self.app(scope, receive, self._websocket_send(send, consent, extra))
            return
        await self.app(
            scope,
            receive,
            self._http_send(scope, send, consent, cookies, extra, jurisdiction.regime),
        )

    def _read_cookies(self, header: bytes) -> _Visit:
        visit = self._parsed.get(header)
        if visit is None:
            cookies = parse_cookie_header(header.decode("latin-1"))
            visit = _Visit(
                cookies,
                cookies.get(self._cookie_name),
                frozenset(
                    key for name in cookies if (key := self.cookies.category_of(name)) is not None
                ),
            )
            if len(header) > _MAX_CACHED_HEADER:
                return visit
            if len(self._parsed) >= self._parsed_size:
                del self._parsed[next(iter(self._parsed))]
            self._parsed[header] = visit
        return visit

    def _filter(
        self, headers: list[tuple[bytes, bytes]], granted: frozenset[str]
    ) -> list[tuple[bytes, bytes]] | None:
        """``headers`` without forbidden ``Set-Cookie`` lines, or ``None`` if all may stay."""
        kept: list[tuple[bytes, bytes]] | None = None
        for index, (name, value) in enumerate(headers):
            if name.lower() == b"set-cookie":
                cookie = value.split(b"=", 1)[0].strip().decode("latin-1")
                if not self.cookies.allows(cookie, granted):
                    if kept is None:
                        kept = list(headers[:index])
                    continue
            if kept is not None:
                kept.append((name, value))
        return kept

    def _http_send(
        self,
        scope: Scope,
        send: Send,
        consent: Consent,
        cookies: dict[str, str],
        extra: list[bytes],
        regime: str,
    ) -> Send:
        injector: HtmlInjector | EncodedHtmlInjector | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal injector
            if injector is not None:
                await injector.send(message)
                return
            if message["type"] != "http.response.start":
                await send(message)
                return
            headers: list[tuple[bytes, bytes]] = message.get("headers", [])
            html = False
            coding: bytes | None = None
            length: int | None = None
            has_cookie = False
            csp: str | None = None
            for name, value in headers:
                lowered = name.lower()
                if lowered == b"content-type":
                    html = value[:9].lower() == b"text/html"
                elif lowered == b"content-encoding":
                    coding = None if value.strip().lower() == b"identity" else value
                elif lowered == b"content-length":
                    length = int(value) if value.isdigit() else -1
                elif lowered == b"set-cookie":
                    has_cookie = True
                elif lowered == b"content-security-policy":
                    policy = value.decode("latin-1")
                    csp = policy if csp is None else f"{csp},{policy}"
            if has_cookie:
                filtered = self._filter(headers, consent.granted)
                if filtered is not None:
                    headers = filtered
            added = extra
            if self.tracker is not None:
                visitor = self.tracker.on_response(
                    scope, consent, message["status"], html, cookies.get(self._visitor_cookie)
                )
                if visitor is not None:
                    added = [*extra, visitor.encode("latin-1")]
            if added:
                headers = [*headers, *((b"set-cookie", value) for value in added)]
            if html and self.csp is not None:
                headers = [*headers, *self.csp.headers(consent, self.is_https(scope))]
            inject = (
                html
                and self._inject
                and message["status"] not in _NO_INJECT_STATUS
                and scope["method"] != "HEAD"
                and (length is None or 0 <= length <= MAX_BUFFERED)
            )
            codec = None
            if inject and coding is not None:
                codec = self.codecs.get(coding)
                inject = codec is not None
            if (html and self._inject) or has_cookie or added:
                # Per-visitor: never stored by a shared cache (HEAD and 304 alike).
                headers = private_headers(headers, self._vary)
            if headers is not message.get("headers"):
                message = {**message, "headers": headers}
            if inject:
                lang, next_path, nonce = self.language(scope), _next_path(scope), self.nonce(scope)
                fragment = self.renderer.fragment(consent, lang, next_path, nonce, csp, regime)
                head = self.renderer.head_fragment(consent, nonce)
                rewriter = None
                rules = self.autoblock.rules(consent.granted) if self.autoblock else None
                if rules is not None:
                    # The blocked hosts' tags are gated before the fragments go in.
                    inline = csp is None or csp_allows_inline_style(csp, nonce)
                    placeholder = self.placeholders.for_request(
                        lang, consent.granted, self.required, next_path, nonce, inline
                    )
                    rewriter = TagRewriter(rules, placeholder)
                injector = (
                    HtmlInjector(send, fragment, head, rewriter)
                    if codec is None
                    else EncodedHtmlInjector(send, fragment, codec, self.codecs, head, rewriter)
                )
                await injector.start(message, length)
                return
            await send(message)

        return send_wrapper

    def _websocket_send(self, send: Send, consent: Consent, extra: list[bytes]) -> Send:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "websocket.accept":
                headers = list(message.get("headers", []))
                filtered = self._filter(headers, consent.granted)
                if filtered is not None:
                    headers = filtered
                headers += [(b"set-cookie", value) for value in extra]
                message = {**message, "headers": headers}
            await send(message)

        return send_wrapper

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        # An app that does not speak lifespan (Django raises "can only handle
        # ASGI/HTTP connections, not lifespan") fails or returns before reading
        # the startup event; then consentkit answers the protocol itself, so its
        # log and analytics still start and stop with the server.
        received = False
        answered = False

        async def app_receive() -> Message:
            nonlocal received
            received = True
            return await receive()

        async def app_send(message: Message) -> None:
            nonlocal answered
            answered = True
            if message["type"] == "lifespan.startup.complete":
                await self.startup()
            elif message["type"] == "lifespan.shutdown.complete":
                await self.shutdown()
            await send(message)

        try:
            await self.app(scope, app_receive, app_send)
        except Exception as exc:
            if received or answered:
                raise
            _logger.info(
                "the wrapped app does not support lifespan (%s: %s); consentkit answers it itself",
                type(exc).__name__,
                exc,
            )
        else:
            if received or answered:
                return
        await self._own_lifespan(receive, send)

    async def _own_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    _logger.exception("consentkit startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    _logger.exception("consentkit shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    def with_gpp(self, scope: Scope, consent: Consent) -> Consent:
        """``consent`` with its GPP string when the request is under ``us_opt_out``."""
        if self.gpp is None or scope["state"]["jurisdiction"].regime != "us_opt_out":
            return consent
        return self.gpp.attach(consent)

    def language(self, scope: Scope) -> str:
        """The configured language that best fits the request's ``Accept-Language``."""
        for name, value in scope["headers"]:
            if name == b"accept-language":
                return self.translator.negotiate(value.decode("latin-1"))
        return self.translator.default

    def is_https(self, scope: Scope) -> bool:
        """Whether the request came over https (``X-Forwarded-Proto`` from trusted proxies)."""
        scheme: str = scope.get("scheme", "http")
        if not self.config.trusted_proxies:
            return scheme == "https"
        proto = next(
            (v.decode("latin-1") for n, v in scope["headers"] if n == b"x-forwarded-proto"), None
        )
        peer = scope.get("client")
        return self.addresses.resolve(peer[0] if peer else None, None, proto, scheme)[1] == "https"

    def nonce(self, scope: Scope) -> str | None:
        """The CSP nonce for this request, if the site uses one."""
        if self.config.csp_nonce is not None:
            return self.config.csp_nonce(scope)
        state: dict[str, Any] = scope.get("state") or {}
        nonce = state.get("csp_nonce")
        return nonce if isinstance(nonce, str) else None

    async def startup(self) -> None:
        """Open the consent log and start analytics (done at lifespan start, or lazily)."""
        if self._started:
            return
        self._started = True
        await self.log.open()
        self.checkpoints.start()
        if self.tracker is not None:
            await self.tracker.start()
        if self.csp_reports is not None:
            await self.csp_reports.start()

    async def shutdown(self) -> None:
        """Flush analytics and close the consent log."""
        if not self._started:
            return
        self._started = False
        if self.tracker is not None:
            await self.tracker.stop()
        if self.csp_reports is not None:
            await self.csp_reports.stop()
        await self.log.close()
        await self.checkpoints.stop()


class _Visit(NamedTuple):
    """What a request's Cookie header says, parsed once per distinct header."""

    cookies: dict[str, str]
    #: The consent cookie's value, if any.
    token: str | None
    #: Categories of the declared cookies the visitor holds.
    categories: frozenset[str]


_NO_COOKIES = _Visit({}, None, frozenset())


def _next_path(scope: Scope) -> str:
    path: str = scope.get("root_path", "") + scope["path"]
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path
