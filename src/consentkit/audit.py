"""``consentkit audit``: load a site in-process and list what it does before consent.

The audit imports the app, runs its lifespan, and visits the given pages
(and up to ``--crawl N`` same-site links found in them) three times: as a
visitor who has not decided, as one who rejected all, and as one who
accepted all (the decisions are posted to the middleware's consent
endpoint, so they are real decisions in the site's consent log). It reports:

- every cookie set before consent or after rejection, with its category
  (or ``undeclared``), and undeclared cookies set at all;
- ``<script src>`` and ``<iframe src>`` on another host that load before
  consent (a script is held back only as ``type="text/plain" data-consent=...``;
  the snippet activates scripts, so a frame is held back only when it has no ``src``);
- middleware outside `ConsentMiddleware` that sets cookies: seen adding a
  ``Set-Cookie`` past consentkit on a request the audit made, or named like a
  cookie setter (``SessionMiddleware``, CSRF); its cookies are never filtered;
- declared cookies not seen on any request the audit made (a stale
  declaration, a cookie only scripts set, or one set on a request the audit
  did not make) and categories that declare no cookies;
- content codings (``Content-Encoding``) of HTML the middleware could not
  insert the banner into, such as ``br`` without the brotli package or
  ``zstd``: each page is also asked for as a browser asks for it.

Only the requests named are made: ``GET`` of each page (``--path``, ``--crawl``)
and each ``--post PATH[=FORM]``, posted before the pages in every pass (so a
login form's session is used for the page visits). Cookies set on other
requests (other forms, JavaScript calls) are not seen; the report says so, and
`consentkit scan` answers the same questions in a real browser.

Exit status: 0 when nothing non-necessary leaks, 1 when something does
(or HTML reaches visitors in a coding that keeps the banner out),
2 for a bad argument (unimportable module, missing attribute, no
`ConsentMiddleware` in the app) or an app that cannot start.

It cannot see cookies that scripts set in the browser (``document.cookie``,
third-party tags): only what the server sends.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urldefrag, urljoin, urlsplit

from consentkit.autoblock import AutoBlocker, BlockRules
from consentkit.config import Cookie
from consentkit.findings import UNCLASSIFIED, Classification, Finding, envelope
from consentkit.middleware import ConsentMiddleware
from consentkit.stack import (
    CookieTrace,
    litestar_middleware_before,
    outer_layers,
    sets_cookies_by_name,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AuditError",
    "AuditReport",
    "audit_app",
    "build_parser",
    "load_app",
    "main",
    "register",
    "run",
]

EXIT_OK = 0
EXIT_LEAK = 1
EXIT_USAGE = 2

#: The three visitors, in the order they are played.
PASSES = ("no_consent", "rejected", "accepted")
PASS_LABELS = {"no_consent": "no consent", "rejected": "rejected all", "accepted": "accepted all"}
_ACTIONS = {"rejected": "reject_all", "accepted": "accept_all"}
UNDECLARED = "undeclared"
#: What the audit cannot see, said in every report.
NOT_SEEN = (
    "This audit sees only what the server sends on the requests it makes (GET of the "
    "pages listed, and the --post requests given). It cannot see cookies that scripts set "
    "in the browser (document.cookie, third-party tags, embedded frames), nor cookies set "
    "on other requests (forms it did not post, logins, JavaScript calls); `consentkit scan` "
    "checks those in a real browser."
)
# Browser-like, and not matched by the analytics bot filter.
_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) consentkit-audit/1"
# What Chromium accepts: the codings a site may send real visitors.
_BROWSER_ENCODINGS = "gzip, deflate, br, zstd"


class AuditError(Exception):
    """A bad argument or an app that cannot be audited (exit status 2)."""


# Loading the app.


def load_app(spec: str) -> tuple[Any, ConsentMiddleware]:
    """Import ``MODULE:ATTR`` and find its `ConsentMiddleware`; `AuditError` if it can't."""
    from consentkit.testing import find_consent_middleware

    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AuditError(f"{spec!r}: expected MODULE:APP, e.g. mysite.main:app")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise AuditError(f"cannot import module {module_name!r}: no such module") from None
        raise AuditError(f"cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise AuditError(f"cannot import module {module_name!r}: {detail}") from None
    app: Any = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AuditError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(app):
        raise AuditError(f"{spec!r} is a {type(app).__name__}, not an ASGI app")
    middleware = find_consent_middleware(app)
    before = litestar_middleware_before(app) if middleware is None else None
    if before is not None:
        outside = f" and {', '.join(before)} sets cookies outside it" if before else ""
        raise AuditError(
            f"{spec!r} lists ConsentMiddleware in Litestar's middleware, where it runs only "
            "for Litestar's own routes (so the consent endpoints and the privacy page "
            "are not answered)"
            f"{outside}: wrap the whole app instead, "
            "app = consentkit.integrations.litestar.wrap(Litestar(...), config)"
        )
    if middleware is None:
        raise AuditError(
            f"no ConsentMiddleware found in {spec!r}: install it with "
            "app.add_middleware(ConsentMiddleware, config=...) or "
            "app = ConsentMiddleware(app, config=...) (the audit looked through "
            "Starlette's middleware stack and every wrapper's .app)"
        )
    return app, middleware


# Reading pages.


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.embeds: list[tuple[str, str, dict[str, str | None]]] = []
        self.writes_cookies = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        elif tag in ("script", "iframe", "img"):
            if attributes.get("src"):
                self.embeds.append((tag, attributes["src"] or "", attributes))
            if tag == "script":
                self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "document.cookie" in data:
            self.writes_cookies = True


def _gated(tag: str, attributes: dict[str, str | None]) -> bool:
    if tag != "script":
        return False  # a frame with a src loads at once, whatever its attributes
    kind = (attributes.get("type") or "").strip().lower()
    return kind == "text/plain" and "data-consent" in attributes


def _same_site(host: str, site: str, cookie_domain: str | None) -> bool:
    host = host.lower()
    if host == site or host.endswith("." + site):
        return True
    domain = (cookie_domain or "").lstrip(".").lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


# The report.


@dataclass
class CookieSeen:
    """A cookie the audit saw the site set."""

    name: str
    category: str  # a category key or "undeclared"
    required: bool
    passes: list[str] = field(default_factory=list)
    requests: dict[str, list[str]] = field(default_factory=dict)
    #: The regime that applied grants its category before a choice (``us_opt_out``,
    #: ``notice``, ``none``): set for an undecided visitor, it is no leak.
    allowed_before_choice: bool = False

    @property
    def leaked_in(self) -> list[str]:
        """The passes in which setting this cookie was a leak."""
        if self.required:
            return []
        return [
            p
            for p in self.passes
            if p == "rejected" or (p == "no_consent" and not self.allowed_before_choice)
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "category": self.category,
            "required": self.required,
            "passes": self.passes,
            "requests": self.requests,
            "allowed_before_choice": self.allowed_before_choice,
        }


@dataclass
class Embed:
    """A script or frame from another host that loads before consent."""

    tag: str
    src: str
    host: str
    pages: list[str] = field(default_factory=list)
    passes: list[str] = field(default_factory=list)
    #: The optional category whose ``hosts`` list this host, if one does.
    category: str | None = None
    #: ``auto_block`` was off, so consentkit left this known host's tag live.
    auto_block_off: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tag": self.tag,
            "src": self.src,
            "host": self.host,
            "pages": self.pages,
            "passes": self.passes,
            "category": self.category,
            "auto_block_off": self.auto_block_off,
        }


@dataclass
class AuditReport:
    """What one audit found."""

    app: str
    base_url: str
    pages: list[str] = field(default_factory=list)
    cookies: dict[str, CookieSeen] = field(default_factory=dict)
    embeds: dict[tuple[str, str], Embed] = field(default_factory=dict)
    stale: list[tuple[str, str]] = field(default_factory=list)
    empty_categories: list[str] = field(default_factory=list)
    script_cookie_pages: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Content coding -> why HTML sent with it got no banner, and the fix.
    unhandled_encodings: dict[str, str] = field(default_factory=dict)
    posts: list[str] = field(default_factory=list)
    #: Every middleware outside consentkit, outermost first (``None``: not found).
    outside: list[str] | None = None
    #: Middleware outside consentkit that sets cookies: name -> cookies seen (maybe none).
    outside_setters: dict[str, list[str]] = field(default_factory=dict)
    #: The regime the audit's requests fell under (they carry no region headers: the
    #: default rule), and the categories it grants before a choice.
    regime: str = "opt_in"
    before_choice: frozenset[str] = frozenset()

    @property
    def leaks(self) -> list[tuple[CookieSeen, str]]:
        """Non-necessary cookies set before consent or after rejection, with the pass."""
        return [(cookie, name) for cookie in self.cookies.values() for name in cookie.leaked_in]

    @property
    def undeclared(self) -> list[CookieSeen]:
        """Cookies the site sets that no category declares."""
        return [c for c in self.cookies.values() if c.category == UNDECLARED]

    @property
    def ok(self) -> bool:
        """True when nothing non-necessary leaks and every page can get the banner."""
        return not (
            self.leaks
            or self.undeclared
            or self.embeds
            or self.outside_setters
            or self.unhandled_encodings
        )

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON form of the report."""
        return {
            **envelope("audit", self.ok, audit_findings(self)),
            "app": self.app,
            "base_url": self.base_url,
            "ok": self.ok,
            "passes": list(PASSES),
            "regime": self.regime,
            "before_choice": sorted(self.before_choice),
            "pages": self.pages,
            "posts": self.posts,
            "middleware_outside": self.outside,
            "cookie_middleware_outside": [
                {"middleware": name, "cookies": cookies}
                for name, cookies in self.outside_setters.items()
            ],
            "leaks": [
                {
                    "cookie": cookie.name,
                    "category": cookie.category,
                    "pass": name,
                    "requests": cookie.requests[name],
                }
                for cookie, name in self.leaks
            ],
            "undeclared_cookies": [
                {"cookie": c.name, "passes": c.passes, "requests": c.requests}
                for c in self.undeclared
            ],
            "ungated_embeds": [embed.as_dict() for embed in self.embeds.values()],
            "cookies": [cookie.as_dict() for cookie in self.cookies.values()],
            "stale_declarations": [
                {"cookie": name, "category": category} for name, category in self.stale
            ],
            "empty_categories": self.empty_categories,
            "pages_writing_document_cookie": self.script_cookie_pages,
            "errors": self.errors,
            "unhandled_encodings": [
                {"encoding": coding, "reason": reason}
                for coding, reason in self.unhandled_encodings.items()
            ],
            "not_seen": NOT_SEEN,
        }


# Running the audit.


async def audit_app(
    app: Any,
    *,
    spec: str = "",
    paths: Sequence[str] = ("/",),
    crawl: int = 0,
    base_url: str = "http://localhost",
    allow_hosts: Sequence[str] = (),
    lifespan: bool = True,
    posts: Sequence[tuple[str, str]] = (),
) -> AuditReport:
    """Audit ``app`` (which must contain a `ConsentMiddleware`); see the module docs."""
    import httpx

    from consentkit.testing import _require_middleware, response_cookies, running_app

    middleware = _require_middleware(app)
    config = middleware.config
    # Every optional category's hosts, to name the category of a known host's tag.
    hosted = AutoBlocker(middleware.categories).rules(frozenset())
    base = urlsplit(base_url)
    site = (base.hostname or "").lower()
    origin = f"{base.scheme}://{base.netloc}"
    report = AuditReport(app=spec, base_url=base_url)
    jurisdiction = middleware.regions.resolve({"type": "http", "headers": [], "client": None})
    report.regime = jurisdiction.regime
    report.before_choice = middleware.regimes.undecided(jurisdiction).granted
    report.posts = [path + (f" {form}" if form else "") for path, form in posts]
    layers = outer_layers(app)
    if layers is not None:
        # The framework object itself (Starlette, FastAPI) is not a middleware.
        report.outside = [layer.name for layer in layers if layer.attribute != "middleware_stack"]
        for layer in layers:
            if sets_cookies_by_name(layer):
                report.outside_setters.setdefault(layer.name, [])
    trace = CookieTrace(layers or [])
    urls = [_normalise(urljoin(base_url, path)) for path in paths]
    urls = list(dict.fromkeys(urls))
    budget = crawl
    own = (config.prefix, config.prefix + "/")

    def page_of(url: str) -> str:
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    async def trace_hop(response: httpx.Response) -> None:
        # Called for every response, redirects included, right after its headers.
        names = {
            value.partition("=")[0].strip() for value in response.headers.get_list("set-cookie")
        }
        for cookie_name, layer_name in trace.added(names).items():
            found = report.outside_setters.setdefault(layer_name, [])
            if cookie_name not in found:
                found.append(cookie_name)

    def record(response: httpx.Response, pass_name: str) -> None:
        for seen in response_cookies(response):
            if seen.deletes:
                continue
            key = middleware.cookies.category_of(seen.name)
            cookie = report.cookies.get(seen.name)
            if cookie is None:
                cookie = report.cookies[seen.name] = CookieSeen(
                    seen.name,
                    key or UNDECLARED,
                    key in middleware.required,
                    allowed_before_choice=key in report.before_choice,
                )
            if pass_name not in cookie.passes:
                cookie.passes.append(pass_name)
            requests = cookie.requests.setdefault(pass_name, [])
            if seen.request not in requests:
                requests.append(seen.request)

    with trace:
        async with running_app(app, lifespan=lifespan) as asgi:
            for pass_name in PASSES:
                transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
                async with httpx.AsyncClient(
                    transport=transport,
                    base_url=base_url,
                    headers={"user-agent": _USER_AGENT, "accept": "text/html,*/*;q=0.8"},
                    follow_redirects=True,
                    event_hooks={"response": [trace_hop]},
                ) as client:
                    action = _ACTIONS.get(pass_name)
                    if action is not None:
                        answer = await client.post(
                            config.prefix, json={"action": action}, headers={"origin": origin}
                        )
                        record(answer, pass_name)
                        if answer.status_code != 200:
                            raise AuditError(
                                f"the consent endpoint refused {action!r}: "
                                f"{answer.status_code} {answer.text[:200]}"
                            )
                    for path, form in posts:
                        response = await client.post(
                            path,
                            content=form.encode(),
                            headers={
                                "origin": origin,
                                "content-type": "application/x-www-form-urlencoded",
                            },
                        )
                        record(response, pass_name)
                        if response.status_code >= 400:
                            report.errors.append(
                                {
                                    "pass": pass_name,
                                    "page": f"POST {path}",
                                    "status": response.status_code,
                                }
                            )
                    index = 0
                    while index < len(urls):
                        url = urls[index]
                        index += 1
                        response = await client.get(url)
                        record(response, pass_name)
                        if response.status_code >= 400:
                            report.errors.append(
                                {
                                    "pass": pass_name,
                                    "page": page_of(url),
                                    "status": response.status_code,
                                }
                            )
                        if "text/html" not in response.headers.get("content-type", ""):
                            continue
                        parser = _PageParser()
                        parser.feed(response.text)
                        parser.close()
                        page = page_of(url)
                        if parser.writes_cookies and page not in report.script_cookie_pages:
                            report.script_cookie_pages.append(page)
                        if pass_name != "accepted":
                            _check_embeds(
                                report,
                                parser,
                                str(response.url),
                                page,
                                pass_name,
                                site,
                                config.cookie_domain,
                                allow_hosts,
                                hosted,
                                config.auto_block,
                            )
                        if pass_name == "no_consent":
                            # Only the headers matter: the middleware notes a coding it
                            # cannot handle.
                            async with client.stream(
                                "GET", url, headers={"accept-encoding": _BROWSER_ENCODINGS}
                            ):
                                pass
                            for href in parser.links:
                                if budget <= 0:
                                    break
                                link = _normalise(urljoin(str(response.url), href))
                                parts = urlsplit(link)
                                if (
                                    parts.scheme in ("http", "https")
                                    and (parts.hostname or "").lower() == site
                                    and not parts.path.startswith(own)
                                    and parts.path != config.prefix
                                    and link not in urls
                                ):
                                    urls.append(link)
                                    budget -= 1
    report.pages = [page_of(url) for url in urls]
    report.unhandled_encodings = dict(middleware.codecs.unhandled)
    seen_names = [name for name in report.cookies]
    for category in middleware.categories:
        if not category.cookies:
            report.empty_categories.append(category.key)
        for declared in category.cookies:
            if not any(_matches(declared, name) for name in seen_names):
                report.stale.append((declared.name, category.key))
    return report


def _matches(declared: Cookie, name: str) -> bool:
    return declared.matches(name)


def _normalise(url: str) -> str:
    return urldefrag(url)[0]


def _check_embeds(
    report: AuditReport,
    parser: _PageParser,
    page_url: str,
    page: str,
    pass_name: str,
    site: str,
    cookie_domain: str | None,
    allow_hosts: Sequence[str],
    hosted: BlockRules | None = None,
    auto_block: bool = False,
) -> None:
    for tag, src, attributes in parser.embeds:
        if _gated(tag, attributes) or "data-consent" in attributes:
            continue
        target = urlsplit(urljoin(page_url, src))
        category = hosted.category_of(target.geturl()) if hosted is not None else None
        if tag == "img" and category is None:
            continue  # an image counts only from a host a category declares
        if target.scheme not in ("http", "https"):
            continue
        host = (target.hostname or "").lower()
        if not host or _same_site(host, site, cookie_domain):
            continue
        if any(host == h or host.endswith("." + h) for h in (a.lower() for a in allow_hosts)):
            continue
        if pass_name == "no_consent" and category in report.before_choice:
            continue  # the regime runs this category before a choice
        embed = report.embeds.get((tag, src))
        if embed is None:
            embed = report.embeds[(tag, src)] = Embed(
                tag,
                src,
                host,
                category=category,
                auto_block_off=category is not None and not auto_block,
            )
        if page not in embed.pages:
            embed.pages.append(page)
        if pass_name not in embed.passes:
            embed.passes.append(pass_name)


# Output.


def _table(rows: list[list[str]], out: TextIO, indent: str = "  ") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
        out.write("\n")


def write_table(report: AuditReport, out: TextIO) -> None:
    """The report as text for a person."""
    out.write(f"consentkit audit of {report.app or 'the app'} at {report.base_url}\n")
    out.write(
        f"Visited {len(report.pages)} page(s): {', '.join(report.pages)}\n"
        "  as a visitor with no consent, then one who rejected all, then one who accepted all.\n"
    )
    if report.regime != "opt_in":
        out.write(
            f"Regime of the default rule: {report.regime}; before a choice it runs "
            f"{', '.join(sorted(report.before_choice))}, which are no leak then.\n"
        )
    if report.posts:
        out.write(f"Posted first in each pass: {', '.join('POST ' + p for p in report.posts)}\n")
    else:
        out.write("Posted nothing (no --post): cookies set on form posts or logins are not seen.\n")
    if report.outside is None:
        out.write("Middleware outside consentkit: unknown (not reached through .app)\n")
    else:
        out.write(f"Middleware outside consentkit: {', '.join(report.outside) or 'none'}\n")
    out.write("\nCookie-setting middleware outside consentkit (its cookies are never filtered):\n")
    if report.outside_setters:
        rows = [["MIDDLEWARE", "COOKIES SEEN"]]
        rows += [
            [name, ", ".join(cookies) or "(none on these requests; named like a cookie setter)"]
            for name, cookies in report.outside_setters.items()
        ]
        _table(rows, out)
        out.write(
            "  (put ConsentMiddleware outside it: add it last with add_middleware, or use\n"
            "   consentkit.integrations.starlette.install(app, config), which orders it)\n"
        )
    else:
        out.write("  none\n")
    leaks = report.leaks
    out.write("\nCookies set before consent or after rejection (non-necessary):\n")
    if leaks:
        rows = [["COOKIE", "CATEGORY", "VISITOR", "SET BY"]]
        rows += [[c.name, c.category, PASS_LABELS[p], ", ".join(c.requests[p])] for c, p in leaks]
        _table(rows, out)
    else:
        out.write("  none\n")
    undeclared = report.undeclared
    out.write("\nUndeclared cookies (no category declares them):\n")
    if undeclared:
        rows = [["COOKIE", "VISITORS"]]
        rows += [[c.name, ", ".join(PASS_LABELS[p] for p in c.passes)] for c in undeclared]
        _table(rows, out)
    else:
        out.write("  none\n")
    out.write("\nScripts and frames from other hosts that load before consent:\n")
    if report.embeds:
        rows = [["TAG", "SRC", "CATEGORY", "PAGES"]]
        rows += [
            [e.tag, e.src, e.category or "-", ", ".join(e.pages)] for e in report.embeds.values()
        ]
        _table(rows, out)
        if any(e.auto_block_off for e in report.embeds.values()):
            out.write(
                "  (the hosts with a CATEGORY are declared: ConsentConfig(auto_block=True) "
                "holds their tags back until the visitor grants it)\n"
            )
        out.write(
            '  (hold a script back with <script type="text/plain" data-consent="CATEGORY">)\n'
        )
    else:
        out.write("  none\n")
    out.write(
        "\nDeclared cookies not seen on the requests made (set on another request, "
        "by scripts, or a stale declaration):\n"
    )
    if report.stale:
        _table([["COOKIE", "CATEGORY"], *([n, c] for n, c in report.stale)], out)
    else:
        out.write("  none\n")
    out.write("\nCategories with no cookies declared: ")
    out.write((", ".join(report.empty_categories) or "none") + "\n")
    if report.cookies:
        out.write("\nEvery cookie seen:\n")
        rows = [["COOKIE", "CATEGORY", *(PASS_LABELS[p].upper() for p in PASSES)]]
        rows += [
            [c.name, c.category, *("set" if p in c.passes else "-" for p in PASSES)]
            for c in report.cookies.values()
        ]
        _table(rows, out)
    if report.script_cookie_pages:
        out.write(
            "\nPages with inline scripts that write document.cookie: "
            + ", ".join(report.script_cookie_pages)
            + "\n"
        )
    if report.errors:
        out.write("\nPages that answered with an error:\n")
        for error in report.errors:
            out.write(f"  {error['page']}: {error['status']} ({PASS_LABELS[error['pass']]})\n")
    if report.unhandled_encodings:
        out.write("\nCompressed pages consentkit could not insert the banner into:\n")
        for coding, reason in report.unhandled_encodings.items():
            out.write(f"  Content-Encoding: {coding}: {reason}\n")
    out.write(f"\nNot seen: {NOT_SEEN}\n")
    if report.ok:
        out.write("\nResult: nothing non-necessary leaks (exit 0).\n")
    else:
        count = (
            len({c.name for c, _ in leaks} | {c.name for c in undeclared})
            + len(report.embeds)
            + len(report.outside_setters)
            + len(report.unhandled_encodings)
        )
        out.write(f"\nResult: {count} problem(s) found (exit 1).\n")


# The command line.


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", metavar="MODULE:APP", help="the ASGI app, e.g. mysite.main:app")
    parser.add_argument(
        "--path",
        dest="paths",
        action="append",
        metavar="/PATH",
        help="a page to visit (repeatable; default /)",
    )
    parser.add_argument(
        "--post",
        dest="posts",
        action="append",
        default=[],
        metavar="/PATH[=FORM]",
        help="a form to post before the pages in each pass, e.g. "
        "'/login=username=ada&password=x' (repeatable; FORM is url-encoded)",
    )
    parser.add_argument(
        "--crawl",
        type=_count,
        default=0,
        metavar="N",
        help="also visit up to N same-site links found in the pages (default 0)",
    )
    parser.add_argument(
        "--format", dest="output_format", choices=("table", "json"), default="table"
    )
    parser.add_argument(
        "--base-url",
        default="http://localhost",
        help="the scheme and host requests are addressed to (default http://localhost)",
    )
    parser.add_argument(
        "--allow-host",
        dest="allow_hosts",
        action="append",
        default=[],
        metavar="HOST",
        help="a host whose scripts may load before consent, e.g. a CDN (repeatable)",
    )
    parser.add_argument(
        "--no-lifespan", dest="lifespan", action="store_false", help="do not run the lifespan"
    )
    parser.set_defaults(func=run)


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


_DESCRIPTION = (
    "Load an ASGI app in-process and visit its pages with no consent, after rejecting all "
    "and after accepting all (posting each --post form first). Lists cookies set before "
    "consent or after rejection, cookie-setting middleware outside consentkit, "
    "undeclared cookies, third-party scripts and frames that load before consent, stale "
    "declarations and empty categories. Exit 0: nothing non-necessary leaks; 1: something "
    "does; 2: bad argument. Cookies that scripts set in the browser are not seen."
)


def register(subparsers: Any) -> None:
    """Add the ``audit`` command to the ``consentkit`` command line."""
    parser = subparsers.add_parser(
        "audit", help="list cookies a site sets before consent", description=_DESCRIPTION
    )
    _add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone ``consentkit-audit`` parser (``python -m consentkit.audit``)."""
    parser = argparse.ArgumentParser(prog="consentkit audit", description=_DESCRIPTION)
    _add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the audit for parsed arguments; return the exit status."""
    paths: list[str] = args.paths or ["/"]
    for path in paths:
        if not path.startswith("/"):
            return _usage(f"--path {path!r} must start with '/'")
    posts: list[tuple[str, str]] = []
    for value in args.posts:
        path, _, form = value.partition("=")
        if not path.startswith("/"):
            return _usage(f"--post {value!r} must start with '/', e.g. /login=user=ada")
        posts.append((path, form))
    base = urlsplit(args.base_url)
    if base.scheme not in ("http", "https") or not base.hostname:
        return _usage(f"--base-url {args.base_url!r} must be like http://example.org")
    try:
        from consentkit.testing import LifespanError
    except ImportError as exc:  # httpx is a test-time dependency, not a runtime one
        return _usage(f"the audit needs httpx ({exc}); install it: pip install httpx")

    try:
        app, _ = load_app(args.app)
        report = asyncio.run(
            audit_app(
                app,
                spec=args.app,
                paths=paths,
                crawl=args.crawl,
                base_url=args.base_url,
                allow_hosts=args.allow_hosts,
                lifespan=args.lifespan,
                posts=posts,
            )
        )
    except AuditError as exc:
        return _usage(str(exc))
    except LifespanError as exc:
        return _usage(str(exc))
    if args.output_format == "json":
        json.dump(report.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write_table(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_LEAK


def _usage(message: str) -> int:
    print(f"consentkit audit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m consentkit.audit``: parse ``argv`` and run the audit."""
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


def audit_findings(report: AuditReport) -> list[Finding]:
    """The report in the findings model `consentkit scan` shares (`consentkit.findings`)."""
    found: list[Finding] = []
    for cookie in report.cookies.values():
        declared = cookie.category != UNDECLARED
        classification = (
            Classification(cookie.category, "declaration", "high", cookie.required)
            if declared
            else UNCLASSIFIED
        )
        passes = cookie.leaked_in
        if passes:
            found.append(Finding(
                "leak", "cookie", cookie.name, classification.category, classification,
                f"cookie {cookie.name!r} set before consent or after rejection",
                visitors=passes, sources=sorted({r for p in passes for r in cookie.requests[p]}),
            ))  # fmt: skip
        if not declared:
            found.append(Finding(
                "undeclared", "cookie", cookie.name, classification.category, classification,
                f"cookie {cookie.name!r} is not in the declaration", visitors=list(cookie.passes),
                sources=sorted({r for rs in cookie.requests.values() for r in rs}),
            ))  # fmt: skip
    for embed in report.embeds.values():
        classification = (
            Classification(embed.category, "declaration", "high", necessary=False,
                           detail=f"{embed.host} is in the hosts of {embed.category!r}")
            if embed.category is not None
            else UNCLASSIFIED
        )  # fmt: skip
        why = (
            f"; auto_block is off, so consentkit left this {embed.category!r} host's tag live"
            if embed.auto_block_off
            else ""
        )
        found.append(Finding(
            "leak", "embed", embed.src, classification.category, classification,
            f"<{embed.tag}> from {embed.host} loads before consent{why}", domain=embed.host,
            visitors=list(embed.passes), pages=list(embed.pages),
        ))  # fmt: skip
    for name, category in report.stale:
        found.append(Finding(
            "stale", "cookie", name, category,
            Classification(category, "declaration", "high", necessary=False),
            f"{name!r} is declared in {category!r} but was never seen",
        ))  # fmt: skip
    for layer, cookies in report.outside_setters.items():
        found.append(Finding(
            "unenforced", "middleware", layer, UNCLASSIFIED.category, UNCLASSIFIED,
            f"{layer} sits outside ConsentMiddleware: its cookies are never filtered",
            sources=sorted(cookies),
        ))  # fmt: skip
    for coding, reason in report.unhandled_encodings.items():
        found.append(Finding(
            "unenforced", "encoding", coding, UNCLASSIFIED.category, UNCLASSIFIED,
            f"HTML sent with Content-Encoding: {coding} gets no banner: {reason}",
        ))  # fmt: skip
    return found


if __name__ == "__main__":
    raise SystemExit(main())
