"""The Starlette example through Starlette's TestClient and the site-owner helpers."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from starlette.testclient import TestClient

from consentkit.testing import assert_no_cookies_before_consent, consent_test_client


def test_starlette_example(load_example: Callable[[str], ModuleType]) -> None:
    app = load_example("starlette_app").app
    with TestClient(app) as client:
        home = client.get("/")
        assert 'id="no-analytics"' in home.text
        assert "consentkit" in home.text  # the banner and snippet were inserted
        assert "_ga" not in home.cookies and "session" in home.cookies
        assert client.get("/me").json() == {"decided": False, "granted": ["necessary"]}
        answer = client.post(
            "/consent", json={"action": "accept_all"}, headers={"origin": "http://testserver"}
        )
        assert answer.status_code == 200
        home = client.get("/")
        assert 'id="analytics"' in home.text and "_ga" in home.cookies
        assert client.get("/privacy").status_code == 200


def test_starlette_example_with_the_helpers(load_example: Callable[[str], ModuleType]) -> None:
    app = load_example("starlette_app").app
    assert_no_cookies_before_consent(app, ["/", "/me", "/privacy"])
    with consent_test_client(app, granted={"analytics"}) as client:
        assert 'id="analytics"' in client.get("/").text
    with consent_test_client(app, granted=set()) as client:
        assert 'id="no-analytics"' in client.get("/").text
