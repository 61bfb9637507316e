"""Litestar: the wrapped app through Litestar's own TestClient."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from litestar.testing import TestClient

from consentkit.testing import consent_cookie, consent_test_client


def test_litestar_example(load_example: Callable[[str], ModuleType]) -> None:
    app = load_example("litestar_app").app
    with TestClient(app=app) as client:
        assert client.get("/me").json() == {"decided": False, "granted": ["necessary"]}
        assert client.get("/reading-list").json() == {"items": []}
        # The middleware answers its own endpoints in front of Litestar.
        assert client.get("/consent").json()["decided"] is False
        assert client.get("/privacy").status_code == 200
        answer = client.post(
            "/consent",
            json={"action": "custom", "categories": {"personalization": True}},
            headers={"origin": "http://testserver.local"},
        )
        assert answer.status_code == 200, answer.text
        assert client.get("/me").json() == {
            "decided": True,
            "granted": ["necessary", "personalization"],
        }
        assert client.get("/reading-list").json() == {"items": ["Annual report 2024"]}


def test_litestar_example_with_the_helpers(load_example: Callable[[str], ModuleType]) -> None:
    app = load_example("litestar_app").app
    with consent_test_client(app, granted={"analytics"}) as client:
        assert client.get("/me").json()["granted"] == ["analytics", "necessary"]
    name, value = consent_cookie(app, {"personalization"})
    with TestClient(app=app, cookies={name: value}) as client:
        assert client.get("/reading-list").json() == {"items": ["Annual report 2024"]}
