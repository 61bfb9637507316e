"""FastAPI: ConsentDep and require_consent, through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from consentkit import Category, Consent, ConsentConfig, ConsentMiddleware
from consentkit.integrations.fastapi import ConsentDep, ConsentRequired, require_consent
from consentkit.testing import consent_cookie, consent_test_client

REFUSAL = {"error": "consent_required", "detail": {"category": "personalization"}}


def test_fastapi_example(load_example: Callable[[str], ModuleType]) -> None:
    app = load_example("fastapi_app").app
    with TestClient(app) as client:
        assert client.get("/me").json() == {"decided": False, "granted": ["necessary"]}
        refused = client.get("/recommendations")
        assert refused.status_code == 403
        assert refused.json() == REFUSAL
        assert "reading_list" not in refused.cookies
        client.cookies.set(*consent_cookie(app, {"personalization"}))
        allowed = client.get("/recommendations")
        assert allowed.status_code == 200 and allowed.json()["items"]
        assert "reading_list" in allowed.cookies
        assert client.get("/me").json()["granted"] == ["necessary", "personalization"]


def test_fastapi_example_with_the_helpers(load_example: Callable[[str], ModuleType]) -> None:
    app = load_example("fastapi_app").app
    with consent_test_client(app, granted={"analytics"}) as client:
        assert client.get("/recommendations").json() == REFUSAL
    with consent_test_client(app, granted={"personalization"}) as client:
        assert client.get("/recommendations").status_code == 200


def _config(tmp_path: Path) -> ConsentConfig:
    return ConsentConfig(
        secret_keys=["fastapi-fit-secret-0123456789abcdefgh"],
        storage=f"sqlite:///{tmp_path}/x.db",
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="personalization", label="Personalization"),
        ],
    )


def test_consent_injected_into_dependencies_and_websockets(tmp_path: Path) -> None:
    app = FastAPI()

    def greeting(consent: ConsentDep) -> str:
        return "welcome back" if consent.allows("personalization") else "hello"

    @app.get("/greet")
    async def greet(text: str = Depends(greeting)) -> dict[str, str]:
        return {"text": text}

    @app.get("/guarded")
    async def guarded(
        consent: Annotated[Consent, Depends(require_consent("personalization"))],
    ) -> dict[str, str | None]:
        return {"consent_id": consent.consent_id}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, consent: ConsentDep) -> None:
        await websocket.accept()
        await websocket.send_json(sorted(consent.granted))
        await websocket.close()

    app.add_middleware(ConsentMiddleware, config=_config(tmp_path))
    with TestClient(app) as client:
        assert client.get("/greet").json() == {"text": "hello"}
        assert client.get("/guarded").json() == REFUSAL
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_json() == ["necessary"]
        client.cookies.set(*consent_cookie(app, {"personalization"}, consent_id="c-1"))
        assert client.get("/greet").json() == {"text": "welcome back"}
        assert client.get("/guarded").json() == {"consent_id": "c-1"}
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_json() == ["necessary", "personalization"]


def test_site_handler_for_consent_required_wins(tmp_path: Path) -> None:
    app = FastAPI()

    @app.exception_handler(ConsentRequired)
    async def handler(request: Request, exc: ConsentRequired) -> JSONResponse:
        return JSONResponse({"ask_for": exc.category}, status_code=451)

    @app.get("/guarded", dependencies=[Depends(require_consent("personalization"))])
    async def guarded() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(ConsentMiddleware, config=_config(tmp_path))
    with TestClient(app) as client:
        answer = client.get("/guarded")
        assert answer.status_code == 451 and answer.json() == {"ask_for": "personalization"}
