"""The crawl: start URLs, sitemap, same-site BFS, dedupe, limits, robots.txt, determinism."""

from __future__ import annotations

import asyncio

from consentkit.scan.crawl import CrawlLimits, Fetched, crawl, normalise_url, page_path

BASE = "http://site.example"


def html(*links: str, canonical: str | None = None) -> str:
    head = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return f"<html><head>{head}</head><body>" + "".join(
        f'<a href="{link}">x</a>' for link in links
    ) + "</body></html>"  # fmt: skip


SITE: dict[str, tuple[int, str, str]] = {
    "/": (
        200,
        "text/html",
        html(
            "/a",
            "/b?utm_source=x",
            "/b",
            "http://other.example/x",
            "/consent/prefs",
            "/file.pdf",
            "/c#frag",
        ),
    ),
    "/a": (200, "text/html", html("/a/deep", "/", "/redirect")),
    "/b": (200, "text/html", html("/b?z=1&a=2")),
    "/b?a=2&z=1": (200, "text/html", html()),
    "/c": (200, "text/html", html(canonical="/a")),
    "/a/deep": (200, "text/html", html("/a/deep/deeper")),
    "/a/deep/deeper": (200, "text/html", html()),
    "/private/x": (200, "text/html", html()),
    "/from-sitemap": (200, "text/html", html()),
    "/missing": (404, "text/html", ""),
    "/robots.txt": (200, "text/plain", "User-agent: *\nDisallow: /private/\n"),
    "/sitemap.xml": (
        200,
        "application/xml",
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{BASE}/from-sitemap</loc></url><url><loc>{BASE}/private/x</loc></url>"
        f"<url><loc>{BASE}/missing</loc></url></urlset>",
    ),
}


async def fetch(url: str) -> Fetched:
    path = page_path(normalise_url(url))
    if path == "/redirect":
        return Fetched(BASE + "/b", *SITE["/b"])
    status, kind, text = SITE.get(path, (404, "text/html", ""))
    return Fetched(url, status, kind, text)


def run(limits: CrawlLimits, starts: tuple[str, ...] = (BASE + "/",)) -> list[str]:
    result = asyncio.run(crawl(fetch, list(starts), limits))
    return [page_path(p) for p in result.pages]


def test_breadth_first_same_site_deduplicated() -> None:
    pages = run(CrawlLimits(skip_prefixes=("/consent/", "/consent")))
    assert pages == ["/", "/from-sitemap", "/a", "/b", "/a/deep", "/b?a=2&z=1", "/a/deep/deeper"]


def test_the_crawl_is_deterministic() -> None:
    limits = CrawlLimits()
    assert run(limits) == run(limits)


def test_robots_txt_is_honoured_unless_told_not_to() -> None:
    result = asyncio.run(crawl(fetch, [BASE + "/"], CrawlLimits()))
    assert {"url": "/private/x", "reason": "disallowed by robots.txt"} in result.skipped
    assert "/private/x" in run(CrawlLimits(robots=False))
    assert {"url": "/missing", "error": "HTTP 404"} in result.errors


def test_pages_depth_include_exclude() -> None:
    assert run(CrawlLimits(pages=2)) == ["/", "/from-sitemap"]
    assert "/a/deep" not in run(CrawlLimits(depth=1, sitemap=False))
    assert run(CrawlLimits(include=("/a*",), sitemap=False)) == [
        "/", "/a", "/a/deep", "/a/deep/deeper"
    ]  # fmt: skip
    assert "/b" not in run(CrawlLimits(exclude=("/b*",)))
    assert "/from-sitemap" not in run(CrawlLimits(sitemap=False))


def test_normalise_url() -> None:
    assert normalise_url("HTTP://Site.Example:80/p?b=2&utm_medium=x&a=1#top") == (
        "http://site.example/p?a=1&b=2"
    )
    assert normalise_url("https://site.example:8443") == "https://site.example:8443/"


def test_a_sitemap_with_entities_is_not_read() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        "<urlset><url><loc>&a;</loc></url></urlset>"
    )

    async def fetch_bomb(url: str) -> Fetched:
        if url.endswith("/sitemap.xml"):
            return Fetched(url, 200, "application/xml", bomb)
        return Fetched(url, 200, "text/html", html())

    result = asyncio.run(crawl(fetch_bomb, [BASE + "/"], CrawlLimits()))
    assert [page_path(p) for p in result.pages] == ["/"]
