"""``consentkit.integrations.starlette.install``: the order is right whatever the call order."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.testclient import TestClient

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie
from consentkit.integrations.starlette import install, order_middleware
from consentkit.stack import outer_layers
from tests.live import serve

SECRET = "starlette-install-secret-0123456789abcdef"
ORIGIN = {"origin": "http://testserver"}


def make_config(tmp_path: Path) -> ConsentConfig:
    return ConsentConfig(
        secret_keys=[SECRET],
        storage=f"sqlite:///{tmp_path}/consent.db",
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(
                key="personalization",
                label="Personalization",
                cookies=[Cookie(name="basket_session", purpose="Basket", duration="2 weeks")],
            ),
        ],
    )


def shop(tmp_path: Path, steps: list[str], *, plain: bool = False) -> FastAPI:
    """A FastAPI shop; ``steps`` names the middleware in the order they are added."""
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        request.session["basket"] = ["tea"]
        return (
            "<!doctype html><html><head><title>Shop</title></head><body>"
            + "x" * 600
            + "</body></html>"
        )

    for step in steps:
        if step == "consent":
            if plain:
                app.add_middleware(ConsentMiddleware, config=make_config(tmp_path))
            else:
                install(app, make_config(tmp_path))
        elif step == "session":
            app.add_middleware(
                SessionMiddleware, secret_key=SECRET, session_cookie="basket_session"
            )
        elif step == "gzip":
            app.add_middleware(GZipMiddleware, minimum_size=100)
        elif step == "cors":
            app.add_middleware(CORSMiddleware, allow_origins=["https://example.org"])
    return app


def layer_names(app: Any) -> list[str]:
    layers = outer_layers(app)
    assert layers is not None
    return [layer.name for layer in layers]


@pytest.mark.parametrize(
    "steps", [list(p) for p in itertools.permutations(["consent", "session", "gzip", "cors"])]
)
def test_every_call_order_gives_the_same_safe_stack(tmp_path: Path, steps: list[str]) -> None:
    app = shop(tmp_path, steps)
    with TestClient(app) as client:
        page = client.get("/", headers={"accept-encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip"
        assert "consentkit-banner" in page.text  # inserted before GZip encoded it
        assert "basket_session" not in page.cookies
        client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        assert "basket_session" in client.get("/").cookies
    outside = layer_names(app)
    assert "SessionMiddleware" not in outside
    assert {"GZipMiddleware", "CORSMiddleware"} <= set(outside)


@pytest.mark.parametrize("steps", [["consent", "session"], ["session", "consent"]])
def test_plain_add_middleware_depends_on_the_order(tmp_path: Path, steps: list[str]) -> None:
    """What install() prevents: consentkit added first is wrapped by the session."""
    app = shop(tmp_path, steps, plain=True)
    with TestClient(app) as client:
        leaked = "basket_session" in client.get("/").cookies
    assert leaked is (steps[0] == "consent")


def test_order_middleware_rules() -> None:
    class Custom:
        pass

    entries = [
        Middleware(SessionMiddleware, secret_key="x"),
        Middleware(ConsentMiddleware),
        Middleware(GZipMiddleware),
        Middleware(Custom),  # type: ignore[arg-type]
    ]
    ordered = [m.cls for m in order_middleware(entries)]
    assert ordered == [GZipMiddleware, ConsentMiddleware, SessionMiddleware, Custom]
    ordered = [m.cls for m in order_middleware(entries, outside=[Custom])]
    assert ordered == [GZipMiddleware, Custom, ConsentMiddleware, SessionMiddleware]
    with pytest.raises(ValueError, match="found 0"):
        order_middleware(entries[2:])
    with pytest.raises(ValueError, match="found 2"):
        order_middleware([*entries, Middleware(ConsentMiddleware)])


def test_install_refuses_a_second_consent_middleware(tmp_path: Path) -> None:
    app = Starlette()
    app.add_middleware(ConsentMiddleware, config=make_config(tmp_path))
    with pytest.raises(ValueError, match="has a ConsentMiddleware already"):
        install(app, make_config(tmp_path))


def test_install_after_start_is_refused(tmp_path: Path) -> None:
    app = Starlette()
    with TestClient(app):
        pass
    with pytest.raises(RuntimeError):
        install(app, make_config(tmp_path))


def test_installed_shop_under_uvicorn(tmp_path: Path) -> None:
    with (
        serve(shop(tmp_path, ["consent", "session", "gzip"])) as url,
        httpx.Client(base_url=url) as client,
    ):
        page = client.get("/")
        assert page.status_code == 200 and "consentkit-banner" in page.text
        assert "basket_session" not in page.cookies
        client.post("/consent", json={"action": "reject_all"}, headers={"origin": url})
        assert "basket_session" not in client.get("/").cookies
        client.post("/consent", json={"action": "accept_all"}, headers={"origin": url})
        assert "basket_session" in client.get("/").cookies
