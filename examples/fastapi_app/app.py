"""consentkit in a FastAPI app: ``uvicorn examples.fastapi_app.app:app``.

Set ``CONSENTKIT_SECRET_KEYS`` (at least 32 random bytes) before starting it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from consentkit import Category, Consent, ConsentConfig, ConsentMiddleware, Cookie, get_consent

config = ConsentConfig(
    storage="sqlite:///fastapi-consent.db",
    categories=[
        Category(key="necessary", label="Strictly necessary", required=True),
        Category(
            key="analytics",
            label="Analytics",
            description="Which pages are read.",
            cookies=[Cookie(name="stats_id", purpose="Counts visits", duration="13 months")],
        ),
    ],
)

app = FastAPI()
app.add_middleware(ConsentMiddleware, config=config)


def require_analytics(request: Request) -> Consent:
    consent = get_consent(request)  # the visitor's verified choice, also request.state.consent
    if not consent.allows("analytics"):
        raise HTTPException(403, "analytics consent needed")
    return consent


@app.get("/", response_class=HTMLResponse)
def home() -> HTMLResponse:
    page = HTMLResponse("<!doctype html><html><body><h1>Hello</h1></body></html>")
    page.set_cookie("stats_id", "42")  # dropped by the middleware unless analytics is granted
    return page


@app.get("/stats")
def stats(given: Annotated[Consent, Depends(require_analytics)]) -> JSONResponse:
    return JSONResponse({"consent_id": given.consent_id, "granted": sorted(given.granted)})
