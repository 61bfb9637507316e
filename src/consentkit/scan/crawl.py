"""Which pages a scan visits: start URLs, ``sitemap.xml``, then same-site links breadth first.

The crawl fetches HTML without rendering it (links that only scripts create
are not followed), honours ``robots.txt`` unless told not to, deduplicates by
canonical URL (the final URL after redirects, ``<link rel=canonical>``) and a
normalised query (sorted, without ``utm_*``/click ids), and has no randomness:
an unchanged site gives the same pages in the same order.
"""

from __future__ import annotations

import fnmatch
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

__all__ = ["CrawlLimits", "CrawlResult", "Fetched", "crawl", "normalise_url", "page_path"]

USER_AGENT_TOKEN = "consentkit-scan"
#: Query parameters that never change a page.
_TRACKING = ("utm_", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga")
_MAX_SITEMAP = 5 * 1024 * 1024
_MAX_SITEMAPS = 10
_SKIP_SUFFIXES = (
    ".pdf", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".mp4", ".mp3",
    ".css", ".js", ".xml", ".json", ".ico", ".woff", ".woff2", ".gz", ".doc", ".docx",
)  # fmt: skip


@dataclass(frozen=True)
class Fetched:
    """What the crawler's fetch returned: final URL, status, content type and text."""

    url: str
    status: int
    content_type: str
    text: str


Fetch = Callable[[str], Awaitable[Fetched]]


@dataclass(frozen=True)
class CrawlLimits:
    """How far the crawl goes."""

    pages: int = 50
    depth: int = 5
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    robots: bool = True
    sitemap: bool = True
    #: Paths never visited (the consent endpoints).
    skip_prefixes: Sequence[str] = ()


@dataclass
class CrawlResult:
    """The pages to scan, in order, and what was left out and why."""

    pages: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def normalise_url(url: str) -> str:
    """A URL without fragment, default port or tracking parameters, with a sorted query."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else (f"{host}:{port}")
    )
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING)
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def page_path(url: str) -> str:
    """The path and query of a URL, as pages are named in reports."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.canonical: str | None = None
        self.base: str | None = None
        self.nofollow = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "a" and attributes.get("href"):
            if "nofollow" not in attributes.get("rel", "").lower().split():
                self.links.append(attributes["href"])
        elif tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            self.canonical = attributes.get("href") or None
        elif tag == "base" and attributes.get("href") and self.base is None:
            self.base = attributes["href"]
        elif tag == "meta" and attributes.get("name", "").lower() == "robots":
            self.nofollow = "nofollow" in attributes.get("content", "").lower()


def _sitemap_locs(text: str) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index."""
    if len(text) > _MAX_SITEMAP or "<!DOCTYPE" in text.upper():
        return [], []  # no entity expansion, no huge files
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return [], []
    pages: list[str] = []
    nested: list[str] = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] != "loc" or not element.text:
            continue
        parent_is_sitemap = root.tag.rsplit("}", 1)[-1] == "sitemapindex"
        (nested if parent_is_sitemap else pages).append(element.text.strip())
    return pages, nested


async def crawl(fetch: Fetch, starts: Sequence[str], limits: CrawlLimits) -> CrawlResult:
    """Breadth-first same-site crawl from ``starts``; see the module docs."""
    result = CrawlResult()
    first = urlsplit(normalise_url(starts[0]))
    origin = f"{first.scheme}://{first.netloc}"
    host = (first.hostname or "").lower()
    robots: RobotFileParser | None = None
    if limits.robots:
        robots = RobotFileParser()
        try:
            answer = await fetch(origin + "/robots.txt")
            lines = answer.text.splitlines() if answer.status == 200 else []
        except Exception:  # no robots.txt is permission
            lines = []
        robots.parse(lines)

    def allowed(url: str, depth: int, explicit: bool) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() != host:
            return "another site" if not explicit else None
        path = page_path(url)
        if any(
            parts.path == p.rstrip("/") or parts.path.startswith(p) for p in (limits.skip_prefixes)
        ):
            return "consent endpoint"
        if parts.path.lower().endswith(_SKIP_SUFFIXES):
            return "not a page"
        if not explicit:
            if depth > limits.depth:
                return "deeper than --depth"
            if limits.include and not any(fnmatch.fnmatchcase(path, p) for p in limits.include):
                return "not matched by --include"
            if any(fnmatch.fnmatchcase(path, p) for p in limits.exclude):
                return "matched by --exclude"
        if robots is not None and not robots.can_fetch(USER_AGENT_TOKEN, url):
            return "disallowed by robots.txt"
        return None

    queue: deque[tuple[str, int, bool]] = deque((normalise_url(s), 0, True) for s in starts)
    if limits.sitemap:
        sitemaps = [origin + "/sitemap.xml"]
        if robots is not None:
            sitemaps += [s for s in (robots.site_maps() or []) if s not in sitemaps]
        done = 0
        while sitemaps and done < _MAX_SITEMAPS:
            done += 1
            try:
                answer = await fetch(sitemaps.pop(0))
            except Exception:
                continue
            if answer.status != 200:
                continue
            pages, nested = _sitemap_locs(answer.text)
            queue.extend((normalise_url(p), 1, False) for p in pages)
            sitemaps.extend(nested)
    queued = {url for url, _, _ in queue}
    seen: set[str] = set()
    while queue and len(result.pages) < limits.pages:
        url, depth, explicit = queue.popleft()
        reason = allowed(url, depth, explicit)
        if reason is not None:
            if reason != "another site":
                result.skipped.append({"url": page_path(url), "reason": reason})
            continue
        try:
            answer = await fetch(url)
        except Exception as exc:
            result.errors.append({"url": page_path(url), "error": str(exc).splitlines()[0]})
            continue
        final = normalise_url(answer.url)
        if final != url:
            reason = allowed(final, depth, explicit)
            if reason is not None:
                if reason != "another site":
                    result.skipped.append({"url": page_path(final), "reason": reason})
                continue
        if answer.status >= 400:
            result.errors.append({"url": page_path(url), "error": f"HTTP {answer.status}"})
            continue
        if "html" not in answer.content_type:
            continue
        parser = _Links()
        parser.feed(answer.text)
        parser.close()
        canonical = final
        if parser.canonical:
            candidate = normalise_url(urljoin(final, parser.canonical))
            if urlsplit(candidate).netloc == urlsplit(final).netloc:
                canonical = candidate
        if (urlsplit(final).hostname or "").lower() != host or canonical in seen or final in seen:
            continue
        seen.update((canonical, final, url))
        result.pages.append(final)
        if parser.nofollow:
            continue
        base = urljoin(final, parser.base) if parser.base else final
        for href in parser.links:
            link = normalise_url(urljoin(base, href))
            if link not in queued and urlsplit(link).scheme in ("http", "https"):
                queued.add(link)
                queue.append((link, depth + 1, False))
    return result
