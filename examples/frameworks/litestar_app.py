"""Litestar: the app wrapped in ConsentMiddleware; ``consent`` injected into handlers."""

from __future__ import annotations

from frameworks_config import example_config
from litestar import Litestar, Request, get

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.integrations.litestar import ConsentParam, get_consent, provide_consent, wrap


@get("/me")
async def me(consent: ConsentParam) -> dict[str, object]:
    """The visitor's choice, injected by ``provide_consent``."""
    return {"decided": consent.decided, "granted": sorted(consent.granted)}


@get("/reading-list")
async def reading_list(request: Request[object, object, object]) -> dict[str, object]:
    """The same consent read from the request."""
    allowed = get_consent(request).allows("personalization")
    return {"items": ["Annual report 2024"] if allowed else []}


def create_app(config: ConsentConfig | None = None) -> ConsentMiddleware:
    """The example app: Litestar inside ConsentMiddleware."""
    litestar = Litestar(
        route_handlers=[me, reading_list], dependencies={"consent": provide_consent}
    )
    return wrap(litestar, config or example_config())


app = create_app()
