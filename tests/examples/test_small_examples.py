"""The FastAPI and bare ASGI examples, driven through Starlette's TestClient."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
KEY = "example-test-key-0123456789abcdefghijkl"
ORIGIN = {"origin": "http://testserver"}


def _load(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("CONSENTKIT_SECRET_KEYS", KEY)
    monkeypatch.chdir(tmp_path)  # the examples keep their SQLite file in the working directory
    module = importlib.import_module(name)
    return importlib.reload(module)


@pytest.fixture
def fastapi_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    module = _load("examples.fastapi_app.app", tmp_path, monkeypatch)
    with TestClient(module.app) as client:
        yield client


@pytest.fixture
def bare_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    module = _load("examples.bare_asgi.app", tmp_path, monkeypatch)
    with TestClient(module.app) as client:
        yield client


@pytest.mark.parametrize("name", ["fastapi_app", "bare_asgi"])
def test_examples_are_small(name: str) -> None:
    lines = (ROOT / "examples" / name / "app.py").read_text().splitlines()
    assert len(lines) < 60


def test_fastapi_banner_and_cookie_filtering(fastapi_client: TestClient) -> None:
    page = fastapi_client.get("/")
    assert page.status_code == 200
    assert 'value="accept_all"' in page.text
    assert "Analytics off" in page.text
    assert "stats_id" not in page.cookies
    refused = fastapi_client.get("/stats")
    assert refused.status_code == 403
    assert refused.json()["error"] == "consent_required"

    decided = fastapi_client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    assert decided.status_code == 200
    page = fastapi_client.get("/")
    assert page.cookies.get("stats_id") == "42"
    assert "Analytics on" in page.text
    assert 'value="accept_all"' not in page.text
    stats = fastapi_client.get("/stats").json()
    assert stats["granted"] == ["analytics", "necessary"]
    assert stats["consent_id"] == decided.json()["consent_id"]


def test_fastapi_reject_keeps_the_cookie_out(fastapi_client: TestClient) -> None:
    fastapi_client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN)
    assert "stats_id" not in fastapi_client.get("/").cookies
    assert fastapi_client.get("/stats").status_code == 403


def test_bare_asgi_follows_the_choice(bare_client: TestClient) -> None:
    page = bare_client.get("/")
    assert "marketing is off" in page.text
    assert "ad_id" not in page.cookies
    assert 'value="accept_all"' in page.text

    form = bare_client.post(
        "/consent",
        data={"action": "custom", "category": "marketing", "next": "/"},
        follow_redirects=False,
    )
    assert form.status_code == 303
    page = bare_client.get("/")
    assert "marketing is on" in page.text
    assert page.cookies.get("ad_id") == "7"

    withdrawn = bare_client.delete("/consent", headers=ORIGIN)
    assert withdrawn.status_code == 200
    assert "marketing is off" in bare_client.get("/").text


def test_bare_asgi_privacy_page(bare_client: TestClient) -> None:
    privacy = bare_client.get("/privacy")
    assert privacy.status_code == 200
    assert "ad_id" in privacy.text
