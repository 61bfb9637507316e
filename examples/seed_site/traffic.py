"""Simulated visitors: fills the demo database so the dashboard has something to show.

The real app is driven in-process (``httpx.ASGITransport``) with a clock the simulation
moves by hand over the past days: every decision goes through ``POST /consent`` and every
page view through the middleware, exactly as a browser's would. Nothing is written to
storage directly.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx
from examples.seed_site.app import create_app
from examples.seed_site.content import SECTIONS

__all__ = ["SimClock", "TrafficSummary", "simulate"]

DAY = 86_400.0
BASE_URL = "http://127.0.0.1:8000"
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
)
LANGUAGE_HEADERS = (("en-GB,en;q=0.9", 6), ("he-IL,he;q=0.9,en;q=0.5", 2), ("ar,en;q=0.5", 2))
#: How often each decision is taken on the banner (the rest never decide).
DECISIONS = (("accept_all", 50), ("reject_all", 28), ("analytics_only", 12), ("undecided", 10))
#: How popular each section is: reports and news lead, as the seed's readers would have it.
SECTION_WEIGHTS = {"home": 22, "reports": 26, "news": 20, "programs": 14, "events": 12, "about": 6}


class SimClock:
    """A clock the simulation sets by hand (Unix seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class TrafficSummary:
    visitors: int = 0
    page_views: int = 0
    decisions: dict[str, int] = field(default_factory=dict)


@dataclass(order=True)
class _Visit:
    at: float
    visitor: int = field(compare=False)
    first: bool = field(compare=False)
    pages: list[str] = field(compare=False)


def _pick_pages(rng: random.Random) -> list[str]:
    by_key = {s.key: s for s in SECTIONS}
    keys = list(SECTION_WEIGHTS)
    weights = list(SECTION_WEIGHTS.values())
    pages: list[str] = []
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 6))):
        key = rng.choices(keys, weights)[0]
        if key == "home":
            pages.append("/")
            continue
        section = by_key[key]
        if rng.random() < 0.3:
            pages.append(section.path)
        else:
            # Earlier pages of a section are read more: a long tail, like a real site.
            index = min(int(rng.expovariate(0.9)), len(section.pages) - 1)
            pages.append(f"{section.path}/{section.pages[index].slug}")
    return pages


def _plan(rng: random.Random, visitors: int, days: int, now: float) -> list[_Visit]:
    visits: list[_Visit] = []
    start = now - days * DAY
    for visitor in range(visitors):
        # More visitors lately: the annual report was published in January.
        first = start + (days * DAY - 3600) * rng.random() ** 0.8
        visits.append(_Visit(first, visitor, True, _pick_pages(rng)))
        at = first
        while rng.random() < 0.4:
            at += rng.uniform(0.5, 8) * DAY
            if at >= now - 60:
                break
            visits.append(_Visit(at, visitor, False, _pick_pages(rng)))
    visits.sort()
    return visits


async def simulate(
    storage: str,
    secret_keys: list[str],
    *,
    visitors: int = 400,
    days: int = 30,
    seed: int = 2025,
    now: float | None = None,
) -> TrafficSummary:
    """Send ``visitors`` simulated visitors through the demo app over the past ``days``."""
    rng = random.Random(seed)
    end = time.time() if now is None else now
    clock = SimClock(end - days * DAY)
    demo = create_app(storage=storage, secret_keys=secret_keys, clock=clock)
    summary = TrafficSummary(visitors=visitors)
    clients: dict[int, httpx.AsyncClient] = {}
    profiles: dict[int, tuple[str, str, str, bool]] = {}
    transport = httpx.ASGITransport(app=demo.app, client=("203.0.113.7", 51000))
    await demo.consent.startup()
    try:
        for visit in _plan(rng, visitors, days, end):
            clock.now = visit.at
            client = clients.get(visit.visitor)
            if client is None:
                decision = _weighted(rng, DECISIONS)
                language = _weighted(rng, LANGUAGE_HEADERS)
                gpc = rng.random() < 0.06
                profiles[visit.visitor] = (decision, language, rng.choice(AGENTS), gpc)
                headers = {"user-agent": profiles[visit.visitor][2], "accept-language": language}
                if gpc:
                    headers["sec-gpc"] = "1"
                client = httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)
                clients[visit.visitor] = client
            decision = profiles[visit.visitor][0]
            for index, path in enumerate(visit.pages):
                clock.now += rng.uniform(5, 120)
                response = await client.get(path, headers={"accept": "text/html"})
                response.raise_for_status()
                summary.page_views += 1
                if visit.first and index == 0 and decision != "undecided":
                    clock.now += rng.uniform(2, 20)
                    await _decide(client, decision, path)
                    summary.decisions[decision] = summary.decisions.get(decision, 0) + 1
    finally:
        clock.now = end
        await demo.consent.shutdown()
        for client in clients.values():
            await client.aclose()
    return summary


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


async def _decide(client: httpx.AsyncClient, decision: str, path: str) -> None:
    if decision == "analytics_only":
        body: dict[str, object] = {
            "action": "custom",
            "categories": {"analytics": True, "marketing": False},
            "surface": "preferences",
        }
    else:
        body = {"action": decision, "surface": "banner"}
    response = await client.post(
        "/consent", json=body, headers={"origin": BASE_URL, "referer": BASE_URL + path}
    )
    response.raise_for_status()


def run(storage: str, secret_keys: list[str], **options: int) -> TrafficSummary:
    """``simulate`` from synchronous code."""
    return asyncio.run(simulate(storage, secret_keys, **options))
