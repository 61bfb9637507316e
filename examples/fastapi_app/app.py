"""consentkit in a FastAPI app: ``uvicorn examples.fastapi_app.app:app``.

Set ``CONSENTKIT_SECRET_KEYS`` (at least 32 random bytes) before starting it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from consentkit import Category, Consent, ConsentConfig, Cookie
from consentkit.integrations.fastapi import ConsentDep, require_consent
from consentkit.integrations.starlette import install

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
install(app, config)  # outside any cookie-setting middleware added later, inside GZip


@app.get("/", response_class=HTMLResponse)
def home(consent: ConsentDep) -> HTMLResponse:
    state = "on" if consent.allows("analytics") else "off"
    page = HTMLResponse(f"<!doctype html><html><body><h1>Analytics {state}</h1></body></html>")
    page.set_cookie("stats_id", "42")  # dropped by the middleware unless analytics is granted
    return page


@app.get("/stats")
def stats(consent: Annotated[Consent, Depends(require_consent("analytics"))]) -> dict[str, object]:
    """403 ``{"error": "consent_required", ...}`` unless the visitor granted analytics."""
    return {"consent_id": consent.consent_id, "granted": sorted(consent.granted)}
