"""Finding and launching Chromium, and recording what one visitor's browser does.

Each visitor gets a browser profile of its own (a Playwright persistent
context). Chromium blocks third-party cookies in the throw-away "incognito"
contexts Playwright otherwise makes, which would hide exactly the cookies an
embedded frame sets in an ordinary browser; a real profile keeps Chromium's
default cookie settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from consentkit.scan.classify import same_site

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page, Playwright, Request, Response

__all__ = ["BrowserNotFound", "Recorder", "Sighting", "find_browser", "strip_query"]

ENV_BROWSER = "CONSENTKIT_CHROMIUM"
_SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BASE_ARGS = ("--disable-gpu", "--disable-quic", "--no-first-run", "--mute-audio")
#: Bounds on what a hostile page can make the scanner keep.
MAX_NAME = 256
MAX_ITEMS = 5_000


class BrowserNotFound(Exception):
    """No Chromium to drive (exit status 2)."""


def find_browser(playwright: Playwright, explicit: str | None) -> str | None:
    """The Chromium to launch: ``--browser-path``, ``CONSENTKIT_CHROMIUM``, Playwright's
    own browser when installed, else ``chromium`` on ``PATH``.

    ``None`` means Playwright's own browser. Raises `BrowserNotFound` saying how to get one.
    """
    for source, value in (("--browser-path", explicit), (ENV_BROWSER, os.environ.get(ENV_BROWSER))):
        if value:
            if not Path(value).is_file():
                raise BrowserNotFound(f"{source} {value!r}: no such browser executable")
            return value
    try:
        own = playwright.chromium.executable_path
    except Exception:  # pragma: no cover - depends on the Playwright build
        own = ""
    if own and Path(own).is_file():
        return None
    for name in _SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(
        "no Chromium found: run `playwright install chromium`, install your system's "
        f"chromium package, or name one with --browser-path or {ENV_BROWSER}"
    )


def strip_query(url: str) -> str:
    """A URL without query or fragment (what reports show of frames and scripts)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return url.split("?")[0].split("#")[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def recorder_script() -> str:
    """The init script that reports script-set cookies, storage, beacons and sockets."""
    return resources.files("consentkit.scan").joinpath("recorder.js").read_text("utf-8")


@dataclass
class Sighting:
    """One cookie, storage key or third-party request as one visitor state saw it."""

    item: str
    name: str
    domain: str
    pages: set[str] = field(default_factory=set)
    frames: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    #: Seen in the cookie jar or storage at the end of a page (not only set, then removed).
    present: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Collects what one visitor's browser context does, page by page.

    ``state`` names the visitor state events are filed under; ``None`` drops
    them (the page load before a banner click, the withdrawal request).
    """

    def __init__(self, site_host: str) -> None:
        self.site = site_host
        self.state: str | None = None
        self.page = ""
        self.states: dict[str, dict[tuple[str, str, str], Sighting]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._cookie_sources: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def attach(self, context: BrowserContext) -> None:
        """Listen to the context's requests and responses."""
        context.on("request", self._on_request)
        context.on("response", self._on_response_sync)

    async def watch_initiators(self, context: BrowserContext, page: Page) -> None:
        """Name what started each request of the page's own frames (Chromium's DevTools view).

        Frames of another site run in processes of their own; their requests keep the
        frame as their source.
        """
        session = await context.new_cdp_session(page)
        session.on("Network.requestWillBeSent", self._on_initiator)
        await session.send("Network.enable")

    def _on_initiator(self, params: dict[str, Any]) -> None:
        url = str((params.get("request") or {}).get("url") or "")
        host = self._third_party(url)
        if host is None:
            return
        initiator = params.get("initiator") or {}
        origin = str(initiator.get("url") or "")
        stack = initiator.get("stack")
        while not origin and isinstance(stack, dict):
            frames = stack.get("callFrames") or []
            origin = next((str(f.get("url")) for f in frames if f.get("url")), "")
            stack = stack.get("parent")
        if not origin:
            return
        item = "beacon" if str(params.get("type", "")).lower() == "ping" else "request"
        kind = str(initiator.get("type") or "other")
        self.add(item, host, host, source=f"initiated by {kind} in {strip_query(origin)}")

    async def install(self, context: BrowserContext) -> None:
        """Expose the reporting binding and add the init script to every frame."""
        await context.expose_binding("__consentkitScan", self._on_binding)
        await context.add_init_script(script=recorder_script())

    def add(
        self,
        item: str,
        name: str,
        domain: str,
        *,
        frame: str | None = None,
        source: str | None = None,
        present: bool = False,
        attributes: dict[str, Any] | None = None,
    ) -> Sighting | None:
        """File one sighting under the current state and page."""
        if self.state is None or not name:
            return None
        name, domain = name[:MAX_NAME], domain[:MAX_NAME]
        bucket = self.states.setdefault(self.state, {})
        key = (item, name, domain)
        sighting = bucket.get(key)
        if sighting is None:
            if len(bucket) >= MAX_ITEMS:
                return None  # a page that writes without end is already a finding
            sighting = bucket[key] = Sighting(item, name, domain)
        sighting.pages.add(self.page)
        if frame:
            sighting.frames.add(strip_query(frame))
        if source:
            sighting.sources.add(source)
        if present:
            sighting.present = True
        if attributes:
            for attribute, value in attributes.items():
                if isinstance(value, set):
                    sighting.attributes.setdefault(attribute, set()).update(value)
                else:
                    sighting.attributes.setdefault(attribute, value)
        return sighting

    @staticmethod
    def _port(url: str) -> set[int]:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return set()
        return {port or (443 if parts.scheme in ("https", "wss") else 80)}

    def _third_party(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return None
        host = (parts.hostname or "").lower()
        if not host or same_site(host, self.site):
            return None
        return host

    @staticmethod
    def _frame_url(target: Request | Response) -> str | None:
        try:
            return target.frame.url
        except Exception:  # a service worker's request has no frame
            return None

    def _on_request(self, request: Request) -> None:
        host = self._third_party(request.url)
        if host is None:
            return
        kind = request.resource_type
        frame = self._frame_url(request)
        item = "beacon" if kind in ("ping", "beacon") else "request"
        if kind == "websocket":
            item = "websocket"
        self.add(
            item,
            host,
            host,
            frame=frame,
            source=f"{kind} {strip_query(request.url)}",
            attributes={"types": {kind}, "ports": self._port(request.url)},
        )

    def _on_response_sync(self, response: Response) -> None:
        if self.state is None:
            return
        # A document's response is the frame's next URL; read the frame now for the others.
        if response.request.resource_type == "document":
            frame: str | None = response.url
        else:
            frame = self._frame_url(response)
        task = asyncio.ensure_future(self._on_response(response, self.state, self.page, frame))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _on_response(
        self, response: Response, state: str, page: str, frame: str | None
    ) -> None:
        try:
            values = await response.header_values("set-cookie")
        except Exception:  # the page went away; nothing to attribute
            return
        if not values:
            return
        host = (urlsplit(response.url).hostname or "").lower()
        saved = self.state, self.page
        self.state, self.page = state, page
        try:
            for value in values:
                for line in value.split("\n"):
                    self._header_cookie(line, host, frame, strip_query(response.url))
        finally:
            self.state, self.page = saved

    def _header_cookie(self, line: str, host: str, frame: str | None, url: str) -> None:
        head, _, rest = line.partition(";")
        name = head.partition("=")[0].strip()
        attributes = {
            k.strip().lower(): v.strip()
            for k, _, v in (part.partition("=") for part in rest.split(";"))
        }
        if _removes(attributes):
            return
        domain = (attributes.get("domain") or host).lstrip(".").lower()
        source = f"Set-Cookie from {url}"
        self._cookie_sources.setdefault((name, domain), set()).add((frame or "", source))
        self.add("cookie", name, domain, frame=frame, source=source)

    def _on_binding(self, source: dict[str, Any], event: dict[str, Any]) -> None:
        frame = source.get("frame")
        frame_url = getattr(frame, "url", None) or ""
        kind = str(event.get("kind", ""))
        name = str(event.get("name") or "")
        script = str(event.get("script") or "unknown")
        frame_host = (urlsplit(frame_url).hostname or "").lower()
        if kind == "cookie":
            if event.get("removes"):
                return
            domain = str(event.get("domain") or frame_host).lstrip(".").lower()
            api = "cookieStore" if event.get("api") == "cookieStore" else "document.cookie"
            described = f"{api} by {strip_query(script) if '://' in script else script}"
            if script.startswith("inline script in "):
                described = f"{api} by inline script in {strip_query(script[17:])}"
            self._cookie_sources.setdefault((name, domain), set()).add((frame_url, described))
            self.add("cookie", name, domain, frame=frame_url, source=described)
        elif kind in ("local_storage", "session_storage", "indexeddb"):
            origin = _origin(frame_url)
            self.add(kind, name, origin, frame=frame_url, source=_script(script))
        elif kind in ("beacon", "websocket"):
            host = self._third_party(name)
            if host is not None:
                self.add(
                    kind,
                    host,
                    host,
                    frame=frame_url,
                    source=_script(script),
                    attributes={"ports": self._port(name)},
                )

    async def settle(self) -> None:
        """Wait for the responses still being read."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def snapshot(self, context: BrowserContext, page: Page) -> None:
        """Record the cookie jar and every frame's storage as they are now."""
        for cookie in await context.cookies():
            name = cookie.get("name", "")
            domain = cookie.get("domain", "").lstrip(".").lower()
            expires = cookie.get("expires", -1)
            attributes: dict[str, Any] = {
                "path": cookie.get("path", "/"),
                # Seconds from now, to the minute: the same in two scans a few seconds apart.
                "lifetime": None
                if expires is None or expires < 0
                else max(0, round((expires - time.time()) / 60) * 60),
                "secure": bool(cookie.get("secure")),
                "http_only": bool(cookie.get("httpOnly")),
                "same_site": cookie.get("sameSite"),
                "partitioned": bool(cookie.get("partitionKey")),
            }
            sources = self._cookie_sources.get((name, domain), set())
            sighting = self.add("cookie", name, domain, present=True, attributes=attributes)
            if sighting is not None:
                for frame, source in sorted(sources):
                    if frame:
                        sighting.frames.add(strip_query(frame))
                    sighting.sources.add(source)
        for each in page.frames:
            try:
                found = await each.evaluate(_STORAGE_JS)
            except Exception:  # a detached or sandboxed frame
                continue
            origin = str(found.get("origin") or "")
            if not origin or origin == "null":
                continue
            for item, key in (
                ("local_storage", "local"),
                ("session_storage", "session"),
                ("indexeddb", "idb"),
            ):
                for name in found.get(key) or ():
                    self.add(item, str(name), origin, frame=each.url, present=True)


_STORAGE_JS = """async () => {
  const out = {origin: location.origin, local: [], session: [], idb: []};
  try { out.local = Object.keys(localStorage); } catch (e) {}
  try { out.session = Object.keys(sessionStorage); } catch (e) {}
  try { if (indexedDB.databases) out.idb = (await indexedDB.databases()).map(d => d.name); }
  catch (e) {}
  return out;
}"""


def _removes(attributes: dict[str, str]) -> bool:
    max_age = attributes.get("max-age")
    if max_age is not None:
        try:
            return int(max_age) <= 0
        except ValueError:
            return False
    expires = attributes.get("expires", "")
    return any(f" {year} " in f" {expires} " for year in range(1970, 1990))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _script(script: str) -> str:
    if script.startswith("inline script in "):
        return "inline script in " + strip_query(script[17:])
    return strip_query(script) if "://" in script else script


#: Chromium's settings in each visitor's fresh profile: cookies as an ordinary browser
#: keeps them, third-party ones included (Chromium's own default for a new profile
#: may block them, which would hide what embedded frames set).
PROFILE_PREFERENCES = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}


def prepare_profile(folder: Path) -> None:
    """Write the preferences of a fresh visitor profile."""
    (folder / "Default").mkdir(parents=True, exist_ok=True)
    (folder / "Default" / "Preferences").write_text(json.dumps(PROFILE_PREFERENCES), "utf-8")


def launch_args(extra: Sequence[str]) -> list[str]:
    """Chromium's command line: the scanner's defaults and the user's ``--browser-arg``."""
    return [*BASE_ARGS, *extra]
