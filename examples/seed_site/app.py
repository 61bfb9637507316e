"""The demo site: Starlette + Jinja2 pages wrapped by consentkit."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.seed_site.content import ARTICLE, SECTIONS, find_page
from examples.seed_site.texts import CATEGORY_TEXTS, LANGUAGES, NAMES, RTL, UI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from consentkit import (
    AnalyticsConfig,
    Category,
    ConsentConfig,
    ConsentMiddleware,
    Cookie,
    Script,
    templating,
)

__all__ = ["VIDEO_HOST", "Demo", "LanguageMiddleware", "VideoService", "build_config", "create_app"]

HERE = Path(__file__).parent
LANG_COOKIE = "site_lang"
LANG_MAX_AGE = 365 * 24 * 3600
#: The host the video embed is served from: the demo itself, under another site's name.
VIDEO_HOST = "video.localhost"

# consentkit's context processor puts the visitor's Consent in every template as ``consent``:
# ``{% if consent.allows("marketing") %}`` works in the site's own templates.
templates = Jinja2Templates(
    directory=str(HERE / "templates"), context_processors=[templating.context_processor]
)


def build_config(*, storage: str, secret_keys: list[str], dashboard_password: str) -> ConsentConfig:
    """The site's consent configuration: three categories, analytics by section, a dashboard."""
    return ConsentConfig(
        secret_keys=secret_keys,
        policy_version="2026-01",
        storage=storage,
        languages=LANGUAGES,
        texts=CATEGORY_TEXTS,
        categories=[
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                description="Needed for the site to work: your cookie choices and your language.",
                cookies=[
                    Cookie(
                        name=LANG_COOKIE,
                        purpose="Remembers the language you chose.",
                        duration="1 year",
                    )
                ],
            ),
            Category(
                key="analytics",
                label="Analytics",
                description=(
                    "Recognises you when you return and helps our team understand which "
                    "sections of the website you find most interesting and useful. "
                    "First-party only: nothing is shared."
                ),
                cookies=[
                    Cookie(
                        name="demo_tag",
                        provider="Analytics tag (simulated locally)",
                        purpose="Set by the analytics tag once it loads.",
                        duration="session",
                    )
                ],
                # The analytics tag, as a site adds Google's (google_tag("G-...")): the queue
                # first, then the loader; live once "analytics" is allowed, inert before.
                scripts=[
                    Script(
                        inline="window.demoTag=window.demoTag||[];"
                        "demoTag.push(['pageview',location.pathname]);",
                        placement="head",
                    ),
                    Script(src="/static/analytics-tag.js", placement="head", attrs={"defer": True}),
                ],
            ),
            Category(
                key="marketing",
                label="Marketing",
                description=(
                    "Embedded videos from a video service, which may recognise you across "
                    "sites. Off until you allow it."
                ),
                # The video "service" is this demo under another name (*.localhost is the
                # loopback address in browsers): auto_block holds its frame back.
                hosts=[VIDEO_HOST],
                cookies=[
                    Cookie(
                        name="demo_video",
                        provider="Video service (simulated locally)",
                        purpose="Set by the embedded video player once it loads.",
                        duration="session",
                    )
                ],
            ),
        ],
        analytics=AnalyticsConfig(
            sections={
                "/news": "News",
                "/reports": "Reports",
                "/programs": "Programs",
                "/events": "Events",
                "/about": "About",
                "/": "Home",  # the rules are ordered: "/" (everything else) comes last
            },
            exclude=("/static", "/lang"),
        ),
        dashboard_auth=("admin", dashboard_password),
        auto_block=True,
    )


class LanguageMiddleware:
    """Lets the language switcher win over ``Accept-Language``.

    The ``site_lang`` cookie (strictly necessary, declared) is turned into the
    ``Accept-Language`` header consentkit negotiates from, so the banner, the privacy
    overview and the consent log all use the language the visitor picked.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            lang = _chosen_language(scope["headers"])
            headers = [(n, v) for n, v in scope["headers"] if n != b"accept-language"]
            headers.append((b"accept-language", lang.encode()))
            scope = {**scope, "headers": headers}
            scope.setdefault("state", {})["site_lang"] = lang
        await self.app(scope, receive, send)


def _chosen_language(headers: list[tuple[bytes, bytes]]) -> str:
    accept = ""
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == LANG_COOKIE and val in LANGUAGES:
                    return val
        elif name == b"accept-language":
            accept = value.decode("latin-1").lower()
    best, best_pos = "en", len(accept) + 1
    for lang in LANGUAGES:
        pos = accept.find(lang)
        if 0 <= pos < best_pos and (pos == 0 or accept[pos - 1] in ", "):
            best, best_pos = lang, pos
    return best


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    lang: str = getattr(request.state, "site_lang", "en")
    nav = [(s.key, s.path) for s in SECTIONS]
    return {
        "request": request,
        "lang": lang,
        "dir": "rtl" if lang in RTL else "ltr",
        "t": UI[lang],
        "nav": nav,
        "languages": [(code, NAMES[code]) for code in LANGUAGES],
        "here": request.url.path,
        "video_src": f"//{VIDEO_HOST}:{request.url.port or 80}/embed/video?lang={lang}",
        **extra,
    }


async def home(request: Request) -> Response:
    news = next(s for s in SECTIONS if s.key == "news")
    return templates.TemplateResponse(
        request, "home.html", _context(request, page=ARTICLE, news=news, active="home")
    )


async def section(request: Request) -> Response:
    key = request.url.path.strip("/")
    current = next(s for s in SECTIONS if s.key == key)
    return templates.TemplateResponse(
        request, "section.html", _context(request, section=current, active=key)
    )


async def page(request: Request) -> Response:
    found = find_page(request.path_params["section"], request.path_params["slug"])
    if found is None:
        return templates.TemplateResponse(
            request, "404.html", _context(request, active=""), status_code=404
        )
    current, item = found
    return templates.TemplateResponse(
        request, "page.html", _context(request, section=current, page=item, active=current.key)
    )


async def video_embed(request: Request) -> Response:
    """The embedded video player, as a video service would serve it into a frame."""
    lang = request.query_params.get("lang", "en")
    lang = lang if lang in LANGUAGES else "en"
    return templates.TemplateResponse(
        request, "embed_video.html", {"lang": lang, "dir": "rtl" if lang in RTL else "ltr",
                                      "t": UI[lang]}
    )  # fmt: skip


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_MAX_AGE, httponly=True, samesite="lax")
    return response


class VideoService:
    """The stand-in video service: answers ``/embed/`` itself, outside consentkit.

    It is another site (reached as `VIDEO_HOST`), so the site's consent
    middleware has no say in it, as with a real video service.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.service = Starlette(
            routes=[
                Route("/embed/video", video_embed),
                Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/embed/"):
            await self.service(scope, receive, send)
            return
        await self.app(scope, receive, send)


def site() -> Starlette:
    """The bare site, without consentkit."""
    routes: list[Route | Mount] = [
        Route("/", home),
        *(Route(s.path, section) for s in SECTIONS),
        Route("/lang/{lang}", switch_language),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        Route("/{section}/{slug}", page),
    ]
    return Starlette(routes=routes)


@dataclass
class Demo:
    """The assembled demo: the ASGI app to serve and the parts tests and tools need."""

    app: ASGIApp
    consent: ConsentMiddleware
    config: ConsentConfig
    dashboard_password: str


def create_app(
    *,
    storage: str = "sqlite:///demo.db",
    secret_keys: list[str] | None = None,
    dashboard_password: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Demo:
    """Build the demo site. Keys and the dashboard password are random unless given."""
    password = dashboard_password or secrets.token_urlsafe(12)
    config = build_config(
        storage=storage,
        secret_keys=secret_keys or [secrets.token_urlsafe(32)],
        dashboard_password=password,
    )
    consent = ConsentMiddleware(site(), config=config, clock=clock)
    return Demo(VideoService(LanguageMiddleware(consent)), consent, config, password)
