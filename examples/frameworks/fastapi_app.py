"""FastAPI: ``ConsentDep`` as a parameter, ``require_consent`` as a route dependency."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Response
from frameworks_config import example_config

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.integrations.fastapi import ConsentDep, require_consent


def create_app(config: ConsentConfig | None = None) -> FastAPI:
    """The example API."""
    app = FastAPI()

    @app.get("/me")
    async def me(consent: ConsentDep) -> dict[str, object]:
        return {"decided": consent.decided, "granted": sorted(consent.granted)}

    @app.get("/recommendations", dependencies=[Depends(require_consent("personalization"))])
    async def recommendations(response: Response) -> dict[str, list[str]]:
        response.set_cookie("reading_list", "r1,r2")
        return {"items": ["Annual report 2024", "Field notes"]}

    app.add_middleware(ConsentMiddleware, config=config or example_config())
    return app


app = create_app()
