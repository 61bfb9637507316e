"""Arbitrary cookie headers and decision bodies never give a 5xx or an exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentkit import ConsentConfig, ConsentMiddleware
from tests.conftest import KEY, categories, site

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("props")
    config = ConsentConfig(
        secret_keys=[KEY], categories=categories(), storage=f"sqlite:///{folder}/c.db"
    )
    with TestClient(ConsentMiddleware(site(), config=config), raise_server_exceptions=True) as c:
        yield c


header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["accept_all", "reject_all", "custom", "withdraw", "x"])},
        optional={
            "categories": st.dictionaries(
                st.sampled_from(["necessary", "analytics", "marketing", "nope"]),
                st.booleans() | st.integers(),
                max_size=3,
            ),
            "surface": st.sampled_from(["banner", "api", "???"]),
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@SETTINGS
@given(cookie=header_text)
def test_any_cookie_header(client: TestClient, cookie: str) -> None:
    for path in ("/", "/whoami", "/consent", "/privacy"):
        response = client.get(path, headers={"cookie": cookie.encode("latin-1")})
        assert response.status_code < 500


@SETTINGS
@given(
    body=bodies,
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain"]
    ),
)
def test_any_decision_body(client: TestClient, body: bytes, content_type: str) -> None:
    response = client.post(
        "/consent",
        content=body,
        headers={"content-type": content_type, "origin": "http://testserver"},
    )
    assert response.status_code in (200, 303, 400, 415)
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "detail"}
        assert "set-cookie" not in response.headers
