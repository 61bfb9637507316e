"""The scanner's fixture site: a consentkit site on 127.0.0.1 and "third parties" on ``*.test``.

Chromium maps ``*.test`` to 127.0.0.1 (``--host-resolver-rules``), so the same
uvicorn server answers as ``tracker.test``, ``pixel.test`` and ``beacon.test``
while the browser treats them as other sites. The leaky variant leaks in every
way ``consentkit scan`` looks for; the clean variant gates everything. The
leaky variant's gated scripts also reach ``stats.test`` (analytics) and three
``*.video.test`` hosts (marketing): the hosts the scanner proposes for them.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>
<main><h1>{title}</h1><p>Annual report 2025.</p>
<p><a href="/">Home</a> <a href="/other">Regional reports</a> <a href="/other#top">again</a>
<a href="/consent">consent state</a> <a href="/private/">private</a></p></main>
{body}
</body></html>
"""

LEAKY = """
<script src="/js/analytics.js"></script>
<iframe title="widget" src="http://tracker.test:{port}/frame"></iframe>
<img alt="" src="http://pixel.test:{port}/p.gif" width="1" height="1">
<script>
localStorage.setItem("chat_widget_state", "open");
sessionStorage.setItem("chat_session", "1");
navigator.sendBeacon("http://beacon.test:{port}/collect", "page=1");
try {{ new WebSocket("ws://tracker.test:{port}/live"); }} catch (e) {{}}
if (window.cookieStore) cookieStore.set("cs_pref", "1");
</script>
<script type="text/plain" data-consent="analytics">
document.cookie = "_pa_path=1; path=/deep";
document.cookie = "mk_pref=1; path=/";
localStorage.setItem("_pa_store", "1");
new Image().src = "http://stats.test:{port}/p.gif";
</script>
<script type="text/plain" data-consent="marketing">
for (const name of ["a", "b", "c"]) new Image().src = `http://${{name}}.video.test:{port}/p.gif`;
</script>
"""

CLEAN = """
<script type="text/plain" data-consent="analytics" src="/js/analytics.js"></script>
<script type="text/plain" data-consent="marketing">
document.cookie = "mk_pref=1; path=/";
</script>
"""

ANALYTICS_JS = 'document.cookie = "_ga=GA1.1.42; path=/; max-age=31536000";\n'

FRAME = """<!doctype html><html><body><p>widget</p>
<script>indexedDB.open("tk_db");</script></body></html>"""


def build_site(
    *, leaky: bool, storage: str, secret: str | None = None
) -> tuple[Any, ConsentConfig]:
    """The fixture site (wrapped by ConsentMiddleware) and its configuration."""

    async def page(request: Request) -> Response:
        port = request.url.port
        title = "Regional reports" if request.url.path == "/other" else "Annual report"
        body = (LEAKY if leaky else CLEAN).format(port=port)
        response = HTMLResponse(PAGE.format(title=title, body=body))
        response.set_cookie("session", "1", httponly=True, samesite="lax")
        return response

    async def analytics_js(request: Request) -> Response:
        return Response(ANALYTICS_JS, media_type="text/javascript")

    async def frame(request: Request) -> Response:
        response = HTMLResponse(FRAME)
        response.headers.append("set-cookie", "tk_uid=7; Path=/; SameSite=None; Secure")
        return response

    async def pixel(request: Request) -> Response:
        return Response(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", media_type="image/gif")

    async def collect(request: Request) -> Response:
        return Response(status_code=204)

    async def robots(request: Request) -> Response:
        return Response("User-agent: *\nDisallow: /private/\n", media_type="text/plain")

    site = Starlette(
        routes=[
            Route("/", page),
            Route("/other", page),
            Route("/private/", page),
            Route("/js/analytics.js", analytics_js),
            Route("/robots.txt", robots),
        ]
    )
    third_parties = Starlette(
        routes=[
            Route("/frame", frame),
            Route("/p.gif", pixel),
            Route("/collect", collect, methods=["POST"]),
        ]
    )
    config = ConsentConfig(
        secret_keys=[secret or secrets.token_urlsafe(32)],
        storage=storage,
        policy_version="2026-01",
        categories=[
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                description="Needed for the site to work.",
                cookies=[Cookie(name="session", purpose="Keeps you signed in", duration="session")],
            ),
            Category(
                key="analytics",
                label="Analytics",
                description="Counts visits.",
                cookies=[
                    Cookie(name="_ga", provider="Google", purpose="Visitors", duration="1 year"),
                    *(
                        [
                            Cookie(name="_pa_path", purpose="Per section", duration="session"),
                            Cookie(name="_pa_store", purpose="Counter", duration="until cleared"),
                        ]
                        if leaky
                        else []
                    ),
                ],
            ),
            Category(
                key="marketing",
                label="Marketing",
                description="Campaigns.",
                cookies=[Cookie(name="mk_pref", purpose="Campaign", duration="session")],
                hosts=["player.video.test:*"] if leaky else [],
            ),
        ],
    )
    return ByHost(ConsentMiddleware(site, config=config), third_parties), config


class ByHost:
    """Sends requests for ``*.test`` hosts to the third parties, the rest to the site."""

    def __init__(self, site: Any, third_parties: Any) -> None:
        self.site = site
        self.third_parties = third_parties

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        host = b""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.split(b":")[0]
        app = self.third_parties if host.endswith(b".test") else self.site
        await app(scope, receive, send)
