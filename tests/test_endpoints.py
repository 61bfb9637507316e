"""The consent API: decisions in JSON and forms, and every way a request is refused."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.endpoints import MAX_BODY, safe_next
from tests.conftest import ORIGIN, log_rows, set_cookies, site

FORM = {"content-type": "application/x-www-form-urlencoded", **ORIGIN}


def test_get_state_and_declaration(client: TestClient) -> None:
    body = client.get("/consent").json()
    assert body["decided"] is False
    assert body["granted"] == ["necessary"]
    assert body["denied"] == ["analytics", "marketing"]
    assert body["consent_id"] is None and body["decided_at"] is None and body["gpc"] is False
    declaration = body["declaration"]
    assert [c["key"] for c in declaration["categories"]] == ["necessary", "analytics", "marketing"]
    necessary = declaration["categories"][0]
    assert necessary["required"] is True
    assert [c["name"] for c in necessary["cookies"]] == ["consentkit", "session"]
    assert declaration["policy_version"] == "1"
    assert declaration["texts"]["accept_all"] == "Accept all"


def test_state_in_the_visitors_language(client: TestClient) -> None:
    response = client.get("/consent", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert response.headers["content-language"] == "de"
    assert response.json()["declaration"]["language"] == "de"


@pytest.mark.parametrize(
    ("body", "granted"),
    [
        ({"action": "accept_all"}, ["analytics", "marketing", "necessary"]),
        ({"action": "reject_all"}, ["necessary"]),
        (
            {"action": "custom", "categories": {"analytics": True, "marketing": False}},
            ["analytics", "necessary"],
        ),
        ({"action": "custom", "categories": {"necessary": True}}, ["necessary"]),
    ],
)
def test_json_decisions(
    client: TestClient, config: ConsentConfig, body: dict[str, object], granted: list[str]
) -> None:
    response = client.post("/consent", json=body, headers=ORIGIN)
    assert response.status_code == 200
    state = response.json()
    assert state["decided"] is True and state["granted"] == granted
    assert state["policy_version"] == "1" and state["decided_at"]
    cookie = set_cookies(response)["consentkit"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={182 * 86400}" in cookie and "Secure" not in cookie
    assert client.get("/whoami").json()["granted"] == granted
    (row,) = log_rows(config)
    assert row["consent_id"] == state["consent_id"] and row["action"] == body["action"]
    assert row["surface"] == "api" and row["policy_version"] == "1"
    assert json.loads(row["granted"]) == granted
    assert sorted(json.loads(row["granted"]) + json.loads(row["denied"])) == [
        "analytics",
        "marketing",
        "necessary",
    ]


def test_consent_id_is_kept_across_decisions(client: TestClient, config: ConsentConfig) -> None:
    first = client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN).json()
    second = client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN).json()
    assert first["consent_id"] == second["consent_id"]
    assert len(first["consent_id"]) == 22  # 128 random bits, URL-safe
    assert [r["action"] for r in log_rows(config)] == ["accept_all", "reject_all"]


def test_form_decision_redirects_to_next(client: TestClient, config: ConsentConfig) -> None:
    response = client.post(
        "/consent",
        content="action=custom&category=analytics&next=/reports/2025%3Fpage%3D2&surface=banner",
        headers=FORM,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/reports/2025?page=2"
    assert "consentkit" in set_cookies(response)
    assert client.get("/whoami").json()["granted"] == ["analytics", "necessary"]
    (row,) = log_rows(config)
    assert row["surface"] == "banner" and row["action"] == "custom"


def test_form_without_next_goes_home(client: TestClient) -> None:
    response = client.post(
        "/consent", content="action=reject_all", headers=FORM, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil",
        "/%2F/evil",
        "/%5Cevil",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
        "",
        "relative/path",
        "/%252F%252Fevil",
        "/" + "a" * 3000,
    ],
)
def test_unsafe_next_goes_home(client: TestClient, target: str) -> None:
    from urllib.parse import urlencode

    response = client.post(
        "/consent",
        content=urlencode({"action": "reject_all", "next": target}),
        headers=FORM,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_safe_next_keeps_same_site_paths() -> None:
    assert safe_next("/news/item?id=3#top") == "/news/item?id=3#top"
    assert safe_next("/") == "/"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{not json", "malformed_json"),
        (b'"accept_all"', "invalid_body"),
        (b"[]", "invalid_body"),
        (b'{"action": 3}', "invalid_action"),
        (b'{"action": "accept_some"}', "invalid_action"),
        (b'{"action": "gpc"}', "invalid_action"),
        (b"{}", "invalid_action"),
        (b'{"action": "custom"}', "invalid_categories"),
        (b'{"action": "custom", "categories": ["analytics"]}', "invalid_categories"),
        (b'{"action": "custom", "categories": {"analytics": "yes"}}', "invalid_categories"),
        (b'{"action": "custom", "categories": {"stats": true}}', "unknown_category"),
        (b'{"action": "custom", "categories": {"necessary": false}}', "required_category"),
        (b'{"action": "accept_all", "categories": {"analytics": true}}', "invalid_categories"),
        (b'{"action": "accept_all", "extra": 1}', "unknown_field"),
        (b'{"action": "accept_all", "surface": "popup"}', "invalid_surface"),
        (b"\xff\xfe", "malformed_json"),
    ],
)
def test_bad_json_gets_400_and_changes_nothing(
    client: TestClient, config: ConsentConfig, content: bytes, error: str
) -> None:
    response = client.post(
        "/consent", content=content, headers={"content-type": "application/json", **ORIGIN}
    )
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "detail" in response.json()
    assert "set-cookie" not in response.headers
    assert log_rows(config) == []


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("action=accept_some", "invalid_action"),
        ("category=analytics", "invalid_action"),
        ("action=custom&category=stats", "unknown_category"),
        ("action=custom&action=accept_all", "repeated_field"),
        ("action=reject_all&colour=blue", "unknown_field"),
        ("action=reject_all&surface=popup", "invalid_surface"),
    ],
)
def test_bad_forms_get_400(
    client: TestClient, config: ConsentConfig, content: str, error: str
) -> None:
    response = client.post("/consent", content=content, headers=FORM, follow_redirects=False)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert log_rows(config) == []


def test_invalid_utf8_form_gets_400(client: TestClient) -> None:
    response = client.post("/consent", content=b"action=\xff", headers=FORM)
    assert response.status_code == 400 and response.json()["error"] == "malformed_form"


def test_body_over_16_kib_gets_413(client: TestClient, config: ConsentConfig) -> None:
    body = b'{"action": "accept_all", "pad": "' + b"x" * MAX_BODY + b'"}'
    response = client.post(
        "/consent", content=body, headers={"content-type": "application/json", **ORIGIN}
    )
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(20):
            yield b"x" * 1024

    response = client.post(
        "/consent", content=chunks(), headers={"content-type": "application/json", **ORIGIN}
    )
    assert response.status_code == 413
    assert log_rows(config) == []


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "multipart/form-data; boundary=x", "application/xml"]
)
def test_other_content_types_get_415(client: TestClient, content_type: str | None) -> None:
    headers = dict(ORIGIN)
    if content_type:
        headers["content-type"] = content_type
    response = client.post("/consent", content=b"action=accept_all", headers=headers)
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example", "content-type": "application/json"},
        {"origin": "null", "content-type": "application/json"},
        {"sec-fetch-site": "cross-site", "content-type": "application/json"},
        {"content-type": "application/json"},  # neither Origin nor Sec-Fetch-Site on JSON
        {"origin": "https://evil.example", "content-type": "application/x-www-form-urlencoded"},
        {"sec-fetch-site": "cross-site", "content-type": "application/x-www-form-urlencoded"},
    ],
)
def test_cross_site_posts_get_403(
    client: TestClient, config: ConsentConfig, headers: dict[str, str]
) -> None:
    body = b'{"action":"accept_all"}' if "json" in headers["content-type"] else b"action=accept_all"
    response = client.post("/consent", content=body, headers=headers)
    assert response.status_code == 403 and response.json()["error"] == "cross_site"
    assert "set-cookie" not in response.headers
    assert log_rows(config) == []


def test_same_site_fetch_metadata_is_enough(client: TestClient) -> None:
    response = client.post(
        "/consent", json={"action": "accept_all"}, headers={"sec-fetch-site": "same-origin"}
    )
    assert response.status_code == 200


def test_subdomain_origin_allowed_with_cookie_domain(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(site(), config=make_config(cookie_domain="example.org"))
    with TestClient(app, base_url="http://www.example.org") as client:
        ok = client.post(
            "/consent",
            json={"action": "reject_all"},
            headers={"origin": "https://shop.example.org"},
        )
        assert ok.status_code == 200
        assert "Domain=example.org" in set_cookies(ok)["consentkit"]
        bad = client.post(
            "/consent",
            json={"action": "reject_all"},
            headers={"origin": "https://example.org.evil.com"},
        )
        assert bad.status_code == 403


def test_other_methods_get_405(client: TestClient) -> None:
    response = client.put("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST, DELETE"
    assert client.post("/privacy", headers=ORIGIN).status_code == 405


def test_unknown_consent_path_gets_404(client: TestClient) -> None:
    response = client.get("/consent/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_storage_failure_gets_503_and_no_cookie(
    tmp_path: Path, make_config: Callable[..., ConsentConfig]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    config = make_config(storage=f"sqlite:///{folder}/consent.db")
    app = ConsentMiddleware(site(), config=config)
    if os.geteuid() == 0:
        # root ignores file modes: make the database path a directory instead.
        (folder / "consent.db").mkdir()
    else:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with TestClient(app) as client:
        response = client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        assert response.status_code == 503
        assert response.json()["error"] == "storage_unavailable"
        assert "set-cookie" not in response.headers
        assert client.get("/").status_code == 200  # pages are still served
    folder.chmod(stat.S_IRWXU)


def test_storage_recovers_by_itself(
    tmp_path: Path, make_config: Callable[..., ConsentConfig]
) -> None:
    blocker = tmp_path / "consent.db"
    blocker.mkdir()
    app = ConsentMiddleware(site(), config=make_config(storage=f"sqlite:///{blocker}"))
    with TestClient(app) as client:
        assert (
            client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN).status_code
            == 503
        )
        blocker.rmdir()
        assert (
            client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN).status_code
            == 200
        )


def test_delete_withdraws(client: TestClient, config: ConsentConfig) -> None:
    client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    client.cookies.set("_ga_XYZ", "g1")
    client.cookies.set("ads", "a1")
    response = client.delete("/consent", headers=ORIGIN)
    assert response.status_code == 200
    state = response.json()
    assert state["decided"] is False and state["granted"] == ["necessary"]
    cookies = set_cookies(response)
    assert "Max-Age=0" in cookies["consentkit"]
    assert "Max-Age=0" in cookies["_ga_XYZ"] and "Max-Age=0" in cookies["ads"]
    assert "session" not in cookies
    assert [r["action"] for r in log_rows(config)] == ["accept_all", "withdraw"]
    assert client.get("/whoami").json()["decided"] is False


def test_form_withdraw(client: TestClient, config: ConsentConfig) -> None:
    client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    response = client.post(
        "/consent", content="action=withdraw&next=/privacy", headers=FORM, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/privacy"
    assert "Max-Age=0" in set_cookies(response)["consentkit"]
    assert log_rows(config)[-1]["surface"] == "form"


def test_delete_cross_site_refused(client: TestClient) -> None:
    assert client.delete("/consent", headers={"origin": "https://evil.example"}).status_code == 403


def test_log_record_fields(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config()
    app = ConsentMiddleware(site(), config=config)
    with TestClient(app, client=("203.0.113.77", 5000)) as client:
        client.post(
            "/consent",
            json={"action": "accept_all", "surface": "preferences"},
            headers={
                **ORIGIN,
                "user-agent": "Tester/1.0",
                "referer": "http://testserver/news/x?utm=1",
                "accept-language": "fr",
            },
        )
    (row,) = log_rows(config)
    assert row["ip"] == "203.0.113.0/24"
    assert row["user_agent"] == "Tester/1.0"
    assert row["path"] == "/news/x"
    assert row["language"] == "fr"
    assert row["surface"] == "preferences"
    assert len(row["declaration_hash"]) == 64 and row["mac"] and row["seq"] == 1
    assert "203.0.113.77" not in str(dict(row))
