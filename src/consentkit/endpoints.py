"""The consent API, the privacy page, the snippet files and the dashboard."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from consentkit.body import BodyError, read_body
from consentkit.consent import Consent, new_consent_id
from consentkit.errors import StorageError, StorageUnavailable
from consentkit.ip import reduce_ip
from consentkit.log import ConsentRecord, Decision
from consentkit.log.receipt import ReceiptError, visitor_receipt
from consentkit.log.record import ACTIONS
from consentkit.optout import OptOutPage
from consentkit.regions import Jurisdiction

if TYPE_CHECKING:
    from consentkit.middleware import ConsentMiddleware

__all__ = ["MAX_BODY", "Endpoints", "safe_next", "site_host"]

#: The largest decision body accepted.
MAX_BODY = 16 * 1024
#: What a visitor may ask for; "gpc" is recorded by the middleware only.
_ACTIONS = tuple(action for action in ACTIONS if action != "gpc")
# "embed": the placeholder of a frame automatic blocking held back (consentkit.autoblock).
_JSON_SURFACES = ("banner", "preferences", "privacy", "api", "notice", "opt_out_page", "embed")
_FORM_SURFACES = ("banner", "preferences", "privacy", "form", "notice", "opt_out_page", "embed")
#: Actions that only make sense where everything runs without a choice.
_NOTICE_ACTIONS = {"dismiss": ("notice", "none")}
_SAME_SITE_FETCH = ("same-origin", "same-site", "none")
_NO_STORE = {"cache-control": "no-store", "vary": "Cookie, Accept-Language"}
_NO_STORE_RAW = [(name.encode(), value.encode()) for name, value in _NO_STORE.items()]
#: How ``JSONResponse`` encodes, built once instead of on every call.
_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
#: A decision id: 16 to 64 URL-safe characters (the snippet sends 32 hex digits).
_DECISION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: A Host header: a DNS name, IPv4 address or [IPv6] literal, and an optional port.
_HOST = re.compile(
    r"(?P<name>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"|\[[0-9a-f:.]{2,45}\])\.?(?::(?P<port>[0-9]{1,5}))?"
)


class _Refused(Exception):
    """A request refused with a JSON error; nothing is logged or set."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail

    def response(self) -> Response:
        return JSONResponse(
            {"error": self.error, "detail": self.detail}, self.status, headers=_NO_STORE
        )


@dataclass(frozen=True, slots=True)
class _Choice:
    action: str
    chosen: frozenset[str]
    surface: str
    next_path: str | None
    page: str
    decision_id: str | None = None


@functools.lru_cache(maxsize=256)
def site_host(value: str | None, scheme: str) -> str | None:
    """The request's ``Host`` as a log records it: lower case, no trailing dot, no
    default port; ``None`` when it is absent or not a host name, address or port.

    A site has few hosts: each is checked once (the last 256 are kept)."""
    if not value or len(value) > 260:
        return None
    match = _HOST.fullmatch(value.strip().lower())
    if match is None:
        return None
    name, port = match["name"], match["port"]
    if port is None or (scheme, port) in (("http", "80"), ("https", "443")):
        return name
    if not 0 < int(port) < 65536:
        return None
    return f"{name}:{int(port)}"


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this site, else ``/`` (no open redirects)."""
    if not value or len(value) > 2048 or not value.startswith("/"):
        return "/"
    decoded = unquote(unquote(value))
    if (
        "\\" in decoded
        or decoded.startswith("//")
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded)
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


class Endpoints:
    """Answers the requests the middleware keeps for itself."""

    def __init__(self, middleware: ConsentMiddleware) -> None:
        self.mw = middleware
        config = middleware.config
        self.config = config
        self.prefix = config.prefix
        self.dashboard_path = config.prefix + "/dashboard"
        self.receipt_path = config.prefix + "/receipt"
        self.opt_out = OptOutPage(middleware)
        self.max_age = int(config.consent_lifetime.total_seconds())
        attributes = f"Max-Age={self.max_age}; Path={config.cookie_path}; HttpOnly; SameSite=Lax"
        clear = f"Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path={config.cookie_path}"
        if config.cookie_domain:
            attributes += f"; Domain={config.cookie_domain}"
            clear += f"; Domain={config.cookie_domain}"
        self._cookie_attributes = attributes
        self._clear_cookie = f"{config.cookie_name}=; {clear}; HttpOnly; SameSite=Lax"
        self._gpc_done: dict[str, tuple[Consent, bytes]] = {}

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        consent: Consent,
        cookies: dict[str, str],
    ) -> None:
        """Answer a request to the consent prefix or the privacy page."""
        reports = self.mw.csp_reports
        if reports is not None and scope["path"] == reports.path:
            await reports.handle(scope, receive, send)
            return
        try:
            response = await self._route(scope, receive, consent, cookies)
        except _Refused as refused:
            response = refused.response()
        await response(scope, receive, send)

    async def _route(
        self, scope: Scope, receive: Receive, consent: Consent, cookies: dict[str, str]
    ) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == self.prefix:
            if method in ("GET", "HEAD"):
                return self._state(scope, consent)
            if method == "POST":
                return await self._decide(scope, receive, consent, cookies)
            if method == "DELETE":
                return await self._withdraw_request(scope, receive, consent, cookies)
            raise _MethodNotAllowed("GET, HEAD, POST, DELETE")
        if method not in ("GET", "HEAD"):
            raise _MethodNotAllowed("GET, HEAD")
        if path == self.config.privacy_path:
            return self._privacy(scope, consent)
        if path == self.dashboard_path:
            return await self._dashboard(scope, receive)
        if path == self.receipt_path:
            return await self._receipt(consent)
        if path == self.opt_out.path:
            return self.opt_out.page(scope, consent, _jurisdiction(scope))
        headers = _headers(scope)
        asset = self.mw.assets.response(
            path, headers.get("if-none-match"), headers.get("accept-encoding")
        )
        if asset is None:
            raise _Refused(404, "not_found", path)
        status, raw, body = asset
        response = Response(body, status)
        response.raw_headers = raw
        return response

    # Reading.

    def _state(self, scope: Scope, consent: Consent) -> Response:
        lang = self.mw.language(scope)
        body = {
            **consent.as_dict(self.mw.all_keys),
            "declaration": self.mw.declarations[lang].data,
        }
        return JSONResponse(body, headers={**_NO_STORE, "content-language": lang})

    def _privacy(self, scope: Scope, consent: Consent) -> Response:
        lang = self.mw.language(scope)
        accept = _headers(scope).get("accept", "")
        if "application/json" in accept and "text/html" not in accept:
            return self._state(scope, consent)
        opt_out = self.opt_out.path if _jurisdiction(scope).regime == "us_opt_out" else None
        page = self.mw.renderer.privacy_page(consent, lang, self.mw.nonce(scope), opt_out)
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={**_NO_STORE, "content-language": lang},
        )

    async def _receipt(self, consent: Consent) -> Response:
        # A decided visitor's signed receipt of their latest decision.
        if not consent.decided or not consent.consent_id:
            raise _Refused(404, "not_decided", "there is no decision to give a receipt of")
        try:
            receipt = await asyncio.to_thread(
                visitor_receipt, self.config.storage, consent.consent_id, self.mw.signing_key
            )
        except ReceiptError:
            raise _Refused(
                404, "no_record", "the consent log has no record of this decision"
            ) from None
        except StorageError:
            raise _Refused(
                503, "storage_unavailable", "the consent log cannot be read now"
            ) from None
        return JSONResponse(
            receipt,
            headers={
                **_NO_STORE,
                "content-disposition": 'attachment; filename="consentkit-receipt.json"',
            },
        )

    async def _dashboard(self, scope: Scope, receive: Receive) -> Response:
        tracker = self.mw.tracker
        if self.config.dashboard_auth is None or tracker is None:
            raise _Refused(404, "not_found", scope["path"])
        from consentkit.analytics.dashboard import dashboard_endpoint

        reports = self.mw.csp_reports
        return await dashboard_endpoint(
            Request(scope, receive),
            tracker,
            self.mw.log.stats,
            self.config,
            csp_counts=reports.counts if reports is not None else None,
        )

    # Deciding.

    async def _decide(
        self, scope: Scope, receive: Receive, consent: Consent, cookies: dict[str, str]
    ) -> Response:
        headers = _headers(scope)
        kind = _content_kind(headers)
        self._check_origin(scope, headers, form=kind == "form")
        body = await _read_body(headers, receive)
        choice = self._parse_form(body) if kind == "form" else self._parse_json(body, headers)
        jurisdiction = _jurisdiction(scope)
        allowed = _NOTICE_ACTIONS.get(choice.action)
        if allowed is not None and jurisdiction.regime not in allowed:
            raise _Refused(
                400,
                "invalid_action",
                f"{choice.action!r} is for the {' and '.join(allowed)} regimes, and the"
                f" {jurisdiction.regime} regime applies here",
            )
        if choice.action == "withdraw":
            return await self._withdraw(scope, consent, cookies, choice)
        if choice.action == "accept_all":
            granted = self.mw.all_keys
        elif choice.action == "reject_all":
            granted = self.mw.required
        elif choice.action == "opt_out":
            # "Do Not Sell or Share": what runs now, less the categories that sell or share.
            granted = consent.granted - self.mw.regimes.sale_or_share
        elif choice.action == "dismiss":
            granted = consent.granted
        else:
            granted = self.mw.required | choice.chosen
        gpc = _has_gpc(headers)
        if gpc:
            granted = granted - self.mw.gpc_keys
        consent_id = consent.consent_id or new_consent_id()
        record = await self._record(
            scope,
            headers,
            consent_id,
            choice.action,
            granted,
            choice.surface,
            choice.page,
            gpc,
            choice.decision_id,
        )
        # A retried decision gets the stored answer: its consent id and time.
        consent_id, now = record.consent_id, _time(record)
        new = Consent(
            decided=True,
            granted=granted,
            consent_id=consent_id,
            policy_version=self.config.policy_version,
            decided_at=now.replace(microsecond=0),
            gpc=gpc,
            regime=jurisdiction.regime,
            region=jurisdiction.region,
            region_source=jurisdiction.source,
        )
        new = self.mw.with_gpp(scope, new)
        token = self.mw.codec.encode(granted, consent_id, now.timestamp(), *jurisdiction)
        set_cookies = [self._cookie(scope, token)]
        set_cookies += [
            v.decode("latin-1")
            for v in self.mw.cookies.expiries(self.mw.cookies.stale(cookies, granted))
        ]
        return self._answer(choice, new, set_cookies)

    async def _withdraw_request(
        self, scope: Scope, receive: Receive, consent: Consent, cookies: dict[str, str]
    ) -> Response:
        headers = _headers(scope)
        self._check_origin(scope, headers, form=False)
        choice = _Choice("withdraw", frozenset(), "api", None, _referer_path(headers))
        return await self._withdraw(scope, consent, cookies, choice)

    async def _withdraw(
        self, scope: Scope, consent: Consent, cookies: dict[str, str], choice: _Choice
    ) -> Response:
        headers = _headers(scope)
        consent_id = consent.consent_id or new_consent_id()
        record = await self._record(
            scope,
            headers,
            consent_id,
            "withdraw",
            self.mw.required,
            choice.surface,
            choice.page,
            _has_gpc(headers),
            choice.decision_id,
        )
        consent_id = record.consent_id
        expired = [
            v.decode("latin-1")
            for v in self.mw.cookies.expiries(self.mw.cookies.withdrawal_names(cookies))
        ]
        jurisdiction = _jurisdiction(scope)
        if jurisdiction.regime == "opt_in":
            new = Consent(
                decided=False,
                granted=self.mw.required,
                consent_id=consent_id,
                gpc=_has_gpc(headers),
                regime=jurisdiction.regime,
                region=jurisdiction.region,
                region_source=jurisdiction.source,
            )
            return self._answer(choice, new, [self._clear_cookie, *expired])
        # Where optional categories run without a choice, no cookie would turn them
        # back on: the withdrawal is kept as a choice of the required categories only.
        now = _time(record)
        new = Consent(
            decided=True,
            granted=self.mw.required,
            consent_id=consent_id,
            policy_version=self.config.policy_version,
            decided_at=now.replace(microsecond=0),
            gpc=_has_gpc(headers),
            regime=jurisdiction.regime,
            region=jurisdiction.region,
            region_source=jurisdiction.source,
        )
        token = self.mw.codec.encode(self.mw.required, consent_id, now.timestamp(), *jurisdiction)
        new = self.mw.with_gpp(scope, new)
        return self._answer(choice, new, [self._cookie(scope, token), *expired])

    async def apply_gpc(self, scope: Scope, consent: Consent) -> tuple[Consent, list[bytes]]:
        """The consent of a request with ``Sec-GPC: 1``, and cookies to set for it.

        GPC turns off the ``gpc_opt_out`` and ``sale_or_share`` categories. An
        earlier grant of one is overridden once: the override is logged
        (``action="gpc"``, under the request's regime) and the cookie re-issued,
        keeping the regime the choice was made under. What a regime grants
        without a choice is turned off for the request, with nothing to log.
        """
        overridden = consent.granted & self.mw.gpc_keys
        if not consent.decided or not overridden or consent.consent_id is None:
            if overridden:
                return replace(consent, granted=consent.granted - overridden, gpc=True), []
            return replace(consent, gpc=True), []
        memo_key = f"{consent.consent_id}:{sorted(consent.granted)}:{consent.decided_at}"
        done = self._gpc_done.get(memo_key)
        if done is not None:
            return done[0], [done[1]]
        granted = consent.granted - overridden
        headers = _headers(scope)
        try:
            record = await self._record(
                scope,
                headers,
                consent.consent_id,
                "gpc",
                granted,
                "gpc",
                _strip_query(scope.get("root_path", "") + scope["path"]),
                True,
            )
        except _Refused:
            # Storage is down: deny the categories now, log the override later.
            return replace(consent, granted=granted, gpc=True, gpc_overridden=overridden), []
        now = _time(record)
        token = self.mw.codec.encode(
            granted,
            consent.consent_id,
            now.timestamp(),
            consent.regime,
            consent.region,
            consent.region_source,
        )
        new = replace(
            consent,
            granted=granted,
            decided_at=now.replace(microsecond=0),
            gpc=True,
            gpc_overridden=overridden,
        )
        cookie = self._cookie(scope, token).encode("latin-1")
        if len(self._gpc_done) >= max(1, self.config.token_cache_size):
            del self._gpc_done[next(iter(self._gpc_done))]
        self._gpc_done[memo_key] = (new, cookie)
        return new, [cookie]

    async def _record(
        self,
        scope: Scope,
        headers: Mapping[str, str],
        consent_id: str,
        action: str,
        granted: frozenset[str],
        surface: str,
        page: str,
        gpc: bool,
        decision_id: str | None = None,
    ) -> ConsentRecord:
        lang = self.mw.language(scope)
        declaration = self.mw.declarations[lang]
        jurisdiction = _jurisdiction(scope)
        peer = scope.get("client")
        ip, _ = self.mw.addresses.resolve(
            peer[0] if peer else None,
            headers.get("x-forwarded-for"),
            headers.get("x-forwarded-proto"),
            scope.get("scheme", "http"),
        )
        decision = Decision(
            consent_id=consent_id,
            action=action,
            granted=tuple(sorted(granted)),
            denied=tuple(sorted(self.mw.all_keys - granted)),
            policy_version=self.config.policy_version,
            declaration_hash=declaration.hash,
            declaration_json=declaration.json,
            language=lang,
            surface=surface,
            path=page[:512],
            ip=reduce_ip(ip, self.config.ip, self.mw.log_key.secret),
            user_agent=headers.get("user-agent", "")[:512],
            gpc=gpc,
            decision_id=decision_id,
            site_host=site_host(headers.get("host"), scope.get("scheme", "http")),
            lifetime=self.max_age,
            regime=jurisdiction.regime,
            region=jurisdiction.region,
            region_source=jurisdiction.source,
        )
        try:
            record = await self.mw.log.append(decision)
        except StorageUnavailable:
            raise _Refused(
                503, "storage_unavailable", "the decision could not be recorded; try again"
            ) from None
        if decision_id is not None and (
            record.action != action
            or frozenset(record.granted) != granted
            or record.policy_version != decision.policy_version
        ):
            raise _Refused(
                422,
                "decision_id_reused",
                "this decision id was already used for another choice: send a new id"
                " (reload the page) to record this one",
            )
        return record

    def _cookie(self, scope: Scope, token: str) -> str:
        secure = self.config.cookie_secure
        if secure is None:
            secure = self.mw.is_https(scope)
        value = f"{self.config.cookie_name}={token}; {self._cookie_attributes}"
        return value + "; Secure" if secure else value

    def _answer(self, choice: _Choice, consent: Consent, set_cookies: list[str]) -> Response:
        response: Response
        if choice.next_path is not None:
            response = RedirectResponse(safe_next(choice.next_path), 303, headers=_NO_STORE)
        else:
            body = _json.encode(consent.as_dict(self.mw.all_keys)).encode()
            response = Response(body, media_type="application/json")
            response.raw_headers[:0] = _NO_STORE_RAW
        for value in set_cookies:
            response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
        return response

    # Parsing and checking.

    def _check_origin(self, scope: Scope, headers: Mapping[str, str], *, form: bool) -> None:
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site.lower() not in _SAME_SITE_FETCH:
            raise _Refused(403, "cross_site", f"Sec-Fetch-Site: {fetch_site[:40]}")
        origin = headers.get("origin")
        if origin is None:
            if fetch_site is None and not form:
                raise _Refused(
                    403, "cross_site", "a decision needs an Origin or Sec-Fetch-Site header"
                )
            return
        host = headers.get("host", "")
        try:
            origin_host = urlsplit(origin).netloc.lower() if origin != "null" else ""
        except ValueError:  # e.g. "http://[::1": not a URL, so not this site
            origin_host = ""
        if not origin_host or not self._same_site(origin_host, host.lower()):
            raise _Refused(403, "cross_site", "Origin is not this site")

    def _same_site(self, origin_host: str, host: str) -> bool:
        if origin_host == host:
            return True
        domain = (self.config.cookie_domain or "").lstrip(".").lower()
        if not domain:
            return False
        name = origin_host.rsplit(":", 1)[0] if "]" not in origin_host else origin_host
        return name == domain or name.endswith("." + domain)

    def _parse_json(self, body: bytes, headers: Mapping[str, str]) -> _Choice:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refused(400, "malformed_json", str(exc)[:200]) from None
        except RecursionError:
            raise _Refused(400, "malformed_json", "nested too deeply") from None
        if not isinstance(data, dict):
            raise _Refused(400, "invalid_body", "the body must be a JSON object")
        unknown_fields = set(data) - {"action", "categories", "surface", "decision_id"}
        if unknown_fields:
            raise _Refused(400, "unknown_field", sorted(unknown_fields)[:10])
        action = self._action(data.get("action"))
        surface = data.get("surface", "api")
        if surface not in _JSON_SURFACES:
            raise _Refused(400, "invalid_surface", f"surface must be one of {list(_JSON_SURFACES)}")
        chosen: frozenset[str] = frozenset()
        categories = data.get("categories")
        if action == "custom":
            if not isinstance(categories, dict):
                raise _Refused(
                    400,
                    "invalid_categories",
                    'custom needs "categories": an object of category key -> true/false',
                )
            self._check_keys(categories)
            for key, value in categories.items():
                if not isinstance(value, bool):
                    raise _Refused(400, "invalid_categories", f"{key!r}: expected true or false")
                if not value and key in self.mw.required:
                    raise _Refused(400, "required_category", f"{key!r} is required")
            chosen = frozenset(k for k, v in categories.items() if v)
        elif categories is not None:
            raise _Refused(400, "invalid_categories", '"categories" is only for "custom"')
        decision_id = _decision_id(data.get("decision_id"))
        return _Choice(action, chosen, surface, None, _referer_path(headers), decision_id)

    def _parse_form(self, body: bytes) -> _Choice:
        try:
            pairs = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=200,
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Refused(400, "malformed_form", str(exc)[:200]) from None
        fields: dict[str, list[str]] = {}
        for name, value in pairs:
            fields.setdefault(name, []).append(value)
        unknown_fields = set(fields) - {"action", "category", "next", "surface", "decision_id"}
        if unknown_fields:
            raise _Refused(400, "unknown_field", sorted(unknown_fields)[:10])
        for name in ("action", "next", "surface", "decision_id"):
            if len(fields.get(name, [])) > 1:
                raise _Refused(400, "repeated_field", name)
        action = self._action(fields.get("action", [None])[0])
        surface = fields.get("surface", ["form"])[0]
        if surface not in _FORM_SURFACES:
            raise _Refused(400, "invalid_surface", f"surface must be one of {list(_FORM_SURFACES)}")
        chosen = frozenset(fields.get("category", []))
        self._check_keys(chosen)
        next_path = safe_next(fields.get("next", ["/"])[0])
        decision_id = _decision_id(fields.get("decision_id", [None])[0])
        return _Choice(action, chosen, surface, next_path, _strip_query(next_path), decision_id)

    @staticmethod
    def _action(value: object) -> str:
        if value not in _ACTIONS:
            raise _Refused(
                400,
                "invalid_action",
                f"action must be one of {list(_ACTIONS)}, not {str(value)[:40]!r}",
            )
        return str(value)

    def _check_keys(self, keys: Any) -> None:
        unknown = sorted(k for k in keys if k not in self.mw.all_keys)
        if unknown:
            raise _Refused(400, "unknown_category", [k[:40] for k in unknown[:10]])


class _MethodNotAllowed(_Refused):
    def __init__(self, allow: str) -> None:
        super().__init__(405, "method_not_allowed", f"allowed: {allow}")
        self.allow = allow

    def response(self) -> Response:
        response = super().response()
        response.headers["allow"] = self.allow
        return response


def _content_kind(headers: Mapping[str, str]) -> str:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return "json"
    if content_type == "application/x-www-form-urlencoded":
        return "form"
    raise _Refused(
        415,
        "unsupported_media_type",
        "send application/json or application/x-www-form-urlencoded",
    )


async def _read_body(headers: Mapping[str, str], receive: Receive) -> bytes:
    try:
        return await read_body(receive, headers.get("content-length"), MAX_BODY)
    except BodyError as refused:
        raise _Refused(refused.status, refused.error, refused.detail or None) from None


def _decision_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _DECISION_ID.fullmatch(value) is None:
        raise _Refused(
            400,
            "invalid_decision_id",
            "decision_id must be 16 to 64 characters of A-Z, a-z, 0-9, '-' and '_'",
        )
    return value


def _time(record: ConsentRecord) -> datetime:
    return datetime.fromisoformat(record.timestamp).astimezone(timezone.utc)


def _headers(scope: Scope) -> dict[str, str]:
    # One pass over the raw headers; the ones read here are single-valued.
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _jurisdiction(scope: Scope) -> Jurisdiction:
    # The middleware resolves it once per request, before anything is answered.
    jurisdiction: Jurisdiction = scope["state"]["jurisdiction"]
    return jurisdiction


def _has_gpc(headers: Mapping[str, str]) -> bool:
    return headers.get("sec-gpc", "").strip() == "1"


def _strip_query(path: str) -> str:
    return path.split("?", 1)[0].split("#", 1)[0]


def _referer_path(headers: Mapping[str, str]) -> str:
    referer = headers.get("referer")
    if not referer:
        return ""
    try:
        return urlsplit(referer).path[:512]
    except ValueError:
        return ""
