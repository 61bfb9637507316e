"""The Starlette-family examples of docs/frameworks.md run as written, given a ``config``."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "frameworks.md").read_text()
KEY = "frameworks-guide-key-0123456789abcdefghij"
ORIGIN = {"origin": "http://testserver"}


def section_code(heading: str) -> str:
    body = GUIDE.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", body, re.DOTALL)
    assert blocks, heading
    return blocks[0]


CONFIG = """
from consentkit import Category, ConsentConfig

config = ConsentConfig(
    secret_keys=[{key!r}],
    storage={storage!r},
    categories=[
        Category(key="necessary", label="Strictly necessary", required=True),
        Category(key="analytics", label="Analytics"),
    ],
)
"""


def run(heading: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str = "") -> Any:
    """The section's code as a real module (Litestar resolves annotations through it)."""
    name = "guide_" + re.sub(r"\W", "_", heading.lower())
    storage = f"sqlite:///{tmp_path}/guide.db"
    (tmp_path / "guide_config.py").write_text(CONFIG.format(key=KEY, storage=storage))
    (tmp_path / f"{name}.py").write_text(
        "from guide_config import config\n" + prefix + section_code(heading)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in (name, "guide_config"):
        sys.modules.pop(module, None)
    return importlib.import_module(name).app


def test_fastapi_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    with TestClient(run("FastAPI", tmp_path, monkeypatch)) as client:
        assert client.get("/").json() == {"analytics": False}
        assert client.get("/stats").status_code == 403
        client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        assert client.get("/").json() == {"analytics": True}
        assert client.get("/stats").json()["consent_id"]


def test_litestar_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("litestar")
    with TestClient(run("Litestar", tmp_path, monkeypatch)) as client:
        assert client.get("/").json() == {"analytics": False}
        client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        assert client.get("/").json() == {"analytics": True}
        assert client.get("/privacy").status_code == 200


SHOP_CONFIG = """
from consentkit import Category, ConsentConfig, Cookie

session_secret = "guide-session-secret"
config = ConsentConfig(
    secret_keys=[{key!r}],
    storage={storage!r},
    categories=[
        Category(key="necessary", label="Strictly necessary", required=True),
        Category(key="personalization", label="Personalization",
                 cookies=[Cookie(name="basket_session", purpose="Basket", duration="2 weeks")]),
    ],
)
"""


def test_middleware_order_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    app = run(
        "Where the middleware goes",
        tmp_path,
        monkeypatch,
        prefix=SHOP_CONFIG.format(key=KEY, storage=f"sqlite:///{tmp_path}/shop.db"),
    )

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        request.session["basket"] = ["tea"]
        return "<!doctype html><html><body>" + "shop " * 200 + "</body></html>"

    with TestClient(app) as client:
        page = client.get("/", headers={"accept-encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip"
        assert "consentkit-banner" in page.text
        assert "basket_session" not in page.cookies
        client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        assert "basket_session" in client.get("/").cookies


def test_no_section_adds_consentkit_before_a_cookie_middleware() -> None:
    """The guide never shows the leaking order (consentkit added, then a session)."""
    for block in re.findall(r"```python\n(.*?)```", GUIDE, re.DOTALL):
        consent = block.find("add_middleware(ConsentMiddleware")
        session = block.find("add_middleware(SessionMiddleware")
        assert consent < 0 or session < 0 or consent > session, block
