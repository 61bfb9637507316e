"""``consentkit.testing`` used the way a site owner would, in plain pytest tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from consentkit import ConsentMiddleware
from consentkit.testing import (
    ConsentMiddlewareNotFound,
    assert_no_cookies_before_consent,
    async_assert_no_cookies_before_consent,
    consent_client,
    consent_cookie,
    consent_test_client,
    find_consent_middleware,
)

try:  # tests/ may or may not be a package
    from .audit_apps import broken, clean, leaky_embeds, leaky_outer, leaky_undeclared
except ImportError:
    from audit_apps import (  # type: ignore[no-redef]
        broken,
        clean,
        leaky_embeds,
        leaky_outer,
        leaky_undeclared,
    )


def test_sync_client_as_a_visitor_who_granted_analytics(tmp_path: Path) -> None:
    app = clean.create_app(str(tmp_path))
    with consent_test_client(app, granted={"analytics"}) as client:
        state = client.get("/consent").json()
        assert state["decided"] is True
        assert state["granted"] == ["analytics", "necessary"]
        home = client.get("/")
        assert home.status_code == 200 and "Peace Alliance" in home.text  # lifespan ran
        assert "_ga" in home.cookies and "session" in home.cookies
        # Marketing was not granted: the middleware holds its cookie back.
        assert "_fbp" not in client.get("/reports").cookies


def test_sync_client_undecided_and_rejected(tmp_path: Path) -> None:
    app = clean.create_app(str(tmp_path))
    with consent_test_client(app) as client:
        assert client.get("/consent").json()["decided"] is False
        assert "_ga" not in client.get("/").cookies
    # The same app again, as someone who rejected everything optional.
    with consent_test_client(app, granted=set()) as client:
        state = client.get("/consent").json()
        assert state["decided"] is True and state["granted"] == ["necessary"]
        assert "_ga" not in client.get("/").cookies


def test_async_client(tmp_path: Path) -> None:
    app = clean.create_app(str(tmp_path))

    async def scenario() -> None:
        async with consent_client(app, granted={"analytics", "marketing"}) as client:
            assert (await client.get("/consent")).json()["granted"] == [
                "analytics",
                "marketing",
                "necessary",
            ]
            assert "_fbp" in (await client.get("/reports")).cookies

    asyncio.run(scenario())


def test_sync_client_inside_a_running_loop(tmp_path: Path) -> None:
    app = clean.create_app(str(tmp_path))

    async def scenario() -> None:
        with consent_test_client(app, granted={"analytics"}) as client:
            assert client.get("/consent").json()["granted"] == ["analytics", "necessary"]

    asyncio.run(scenario())


def test_posting_a_decision_through_the_client(tmp_path: Path) -> None:
    app = clean.create_app(str(tmp_path))
    with consent_test_client(app) as client:
        answer = client.post(
            "/consent", json={"action": "accept_all"}, headers={"origin": "http://testserver"}
        )
        assert answer.status_code == 200
        assert client.get("/consent").json()["decided"] is True


def test_forged_cookie_is_the_middlewares_own(tmp_path: Path) -> None:
    app = clean.create_app(str(tmp_path))
    middleware = find_consent_middleware(app)
    assert isinstance(middleware, ConsentMiddleware)
    name, value = consent_cookie(app, {"analytics"}, consent_id="fixed-id")
    assert name == "consentkit"
    consent = middleware.codec.decode(value)
    assert consent.decided and consent.consent_id == "fixed-id"
    assert consent.granted == {"necessary", "analytics"}
    with pytest.raises(ValueError, match="unknown categories \\['ads'\\]"):
        consent_cookie(app, {"ads"})


def test_middleware_is_found_in_every_kind_of_app(tmp_path: Path) -> None:
    directory = str(tmp_path)
    assert find_consent_middleware(clean.create_app(directory)) is not None  # Starlette
    assert find_consent_middleware(leaky_embeds.create_app(directory)) is not None  # FastAPI
    assert find_consent_middleware(leaky_outer.create_app(directory)) is not None  # wrapped
    assert find_consent_middleware(broken.app) is None
    with pytest.raises(ConsentMiddlewareNotFound, match="no ConsentMiddleware found"):
        consent_test_client(broken.app).__enter__()


def test_no_cookies_before_consent_passes_for_a_clean_site(tmp_path: Path) -> None:
    assert_no_cookies_before_consent(clean.create_app(str(tmp_path)), ["/", "/reports"])


def test_no_cookies_before_consent_lists_offenders(tmp_path: Path) -> None:
    app = leaky_undeclared.create_app(str(tmp_path))
    assert_no_cookies_before_consent(app, ["/"])
    with pytest.raises(AssertionError) as failure:
        assert_no_cookies_before_consent(app, ["/", "/shop"])
    message = str(failure.value)
    assert "1 cookie(s) set before the visitor consented" in message
    assert "GET /shop set 'visitor_id' (undeclared)" in message

    with pytest.raises(AssertionError, match=r"GET / set '_ga' \(analytics\)"):
        assert_no_cookies_before_consent(leaky_outer.create_app(str(tmp_path)))


def test_async_assertion(tmp_path: Path) -> None:
    app = leaky_outer.create_app(str(tmp_path))

    async def scenario() -> None:
        with pytest.raises(AssertionError, match="_ga"):
            await async_assert_no_cookies_before_consent(app)
        # The sync one works from inside a running loop too.
        with pytest.raises(AssertionError, match="_ga"):
            assert_no_cookies_before_consent(app)

    asyncio.run(scenario())
