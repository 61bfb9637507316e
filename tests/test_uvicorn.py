"""End to end over real HTTP: uvicorn on loopback, a real client, the log on disk."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from consentkit import ConsentConfig, ConsentMiddleware
from tests.conftest import log_rows, site
from tests.live import serve


def test_visit_decide_and_return(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config()
    with (
        serve(ConsentMiddleware(site(), config=config)) as url,
        httpx.Client(base_url=url) as client,
    ):
        first = client.get("/")
        assert first.status_code == 200
        assert 'id="consentkit-banner"' in first.text
        assert set(first.cookies.keys()) == {"session", "undeclared"}
        assert int(first.headers["content-length"]) == len(first.content)

        form = client.post(
            "/consent",
            content="action=custom&category=analytics&next=/",
            headers={"content-type": "application/x-www-form-urlencoded", "origin": url},
            follow_redirects=False,
        )
        assert form.status_code == 303 and form.headers["location"] == "/"
        assert "consentkit" in form.cookies

        again = client.get("/")
        assert "granted=analytics,necessary" in again.text
        assert 'id="consentkit-banner"' not in again.text
        assert set(again.cookies.keys()) == {"session", "_ga_XYZ", "undeclared"}

        api = client.post("/consent", json={"action": "reject_all"}, headers={"origin": url})
        assert api.status_code == 200 and api.json()["granted"] == ["necessary"]
        assert client.get("/whoami").json()["granted"] == ["necessary"]
    rows = log_rows(config)
    assert [r["action"] for r in rows] == ["custom", "reject_all"]
    assert rows[0]["ip"] == "127.0.0.0/24"
    assert rows[0]["surface"] == "form"
