"""A bare ASGI callable behind ConsentMiddleware, with httpx and the site-owner helpers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from starlette.types import Receive, Scope, Send

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie, get_consent
from consentkit.testing import assert_no_cookies_before_consent, consent_client


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"  # no lifespan support, like many small apps
    consent = get_consent(scope)
    headers = [(b"content-type", b"application/json")]
    if consent.allows("analytics"):
        headers.append((b"set-cookie", b"_ga=GA1.1; Path=/"))
    body = json.dumps({"granted": sorted(consent.granted), "state": scope["state"] is not None})
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


def make_app(tmp_path: Path) -> ConsentMiddleware:
    config = ConsentConfig(
        secret_keys=["bare-asgi-fit-secret-0123456789abcdef"],
        storage=f"sqlite:///{tmp_path}/x.db",
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics", cookies=[Cookie(name="_ga*")]),
        ],
    )
    return ConsentMiddleware(bare, config=config)


def test_bare_asgi_app(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
            first = await client.get("/")
            assert first.json()["granted"] == ["necessary"]
            decided = await client.post(
                "/consent", json={"action": "accept_all"}, headers={"origin": "http://site"}
            )
            assert decided.status_code == 200
            again = await client.get("/")
            assert again.json()["granted"] == ["analytics", "necessary"]
            assert "_ga" in again.cookies
        await app.shutdown()

        # The helpers cope with an app that does not speak lifespan.
        async with consent_client(app, granted={"analytics"}) as client:
            assert (await client.get("/")).json()["granted"] == ["analytics", "necessary"]

    asyncio.run(scenario())
    assert_no_cookies_before_consent(app)
