"""``POST {prefix}/csp-report``: both report formats, the counts, and hostile input."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from csp_helpers import csp_site
from starlette.testclient import TestClient

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.csp.endpoint import MAX_BODY, MAX_PENDING, parse_reports

ConfigFactory = Callable[..., ConsentConfig]
REPORTS_JSON = {"content-type": "application/reports+json"}
CSP_REPORT = {"content-type": "application/csp-report"}
URL = "/consent/csp-report?state=none"


def reporting_api(blocked: str, directive: str = "script-src-elem", page: str = "/") -> Any:
    """A Reporting API batch as Chromium sends it."""
    return [
        {
            "age": 12,
            "type": "csp-violation",
            "url": f"https://site.example{page}",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156",
            "body": {
                "blockedURL": blocked,
                "columnNumber": 1,
                "disposition": "report",
                "documentURL": f"https://site.example{page}",
                "effectiveDirective": directive,
                "lineNumber": 3,
                "originalPolicy": "script-src 'self'; report-to consentkit-csp",
                "referrer": "https://elsewhere.example/?from=me",
                "sample": "",
                "sourceFile": f"https://site.example{page}",
                "statusCode": 200,
            },
        }
    ]


def report_uri(blocked: str, directive: str = "img-src", page: str = "/") -> Any:
    """An old-style ``report-uri`` body."""
    return {
        "csp-report": {
            "document-uri": f"https://site.example{page}",
            "referrer": "",
            "violated-directive": directive,
            "effective-directive": directive,
            "original-policy": "img-src 'self'; report-uri /consent/csp-report",
            "disposition": "enforce",
            "blocked-uri": blocked,
            "status-code": 200,
        }
    }


def rows(config: ConsentConfig) -> list[tuple[Any, ...]]:
    path = config.storage.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return list(
            conn.execute(
                "SELECT day, host, directive, path, state, reports FROM consentkit_csp_daily "
                "ORDER BY host, directive, path, state"
            )
        )


@pytest.fixture
def config(csp_config: ConfigFactory) -> ConsentConfig:
    return csp_config()


@pytest.fixture
def client(config: ConsentConfig) -> Iterator[TestClient]:
    with TestClient(ConsentMiddleware(csp_site(), config=config)) as test_client:
        yield test_client


def test_both_formats_are_counted_without_personal_data(
    config: ConsentConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cookie = {"cookie": "session=secret-session-value; _ga=GA1.2.3"}
    with TestClient(ConsentMiddleware(csp_site(), config=config)) as client:
        batch = reporting_api("https://www.youtube.com/embed/x?v=secret-query", "frame-src",
                              "/news/story?utm_source=secret-query#top")  # fmt: skip
        batch += reporting_api("http://tracker.example:8080/p.gif?id=secret-query", "img-src")
        answer = client.post(URL, content=json.dumps(batch), headers={**REPORTS_JSON, **cookie})
        assert answer.status_code == 204
        assert answer.content == b""
        old = report_uri("https://www.youtube.com/vi/1.jpg?secret-query", "img-src", "/news/story")
        answer = client.post(
            "/consent/csp-report?state=analytics",
            content=json.dumps(old),
            headers={**CSP_REPORT, **cookie},
        )
        assert answer.status_code == 204
        client.post(URL, content=json.dumps(batch[:1]), headers=REPORTS_JSON)
    stored = rows(config)
    assert [row[1:] for row in stored] == [
        ("tracker.example:8080", "img-src", "/", "none", 1),
        ("www.youtube.com", "frame-src", "/news/story", "none", 2),
        ("www.youtube.com", "img-src", "/news/story", "analytics", 1),
    ]
    with sqlite3.connect(config.storage.removeprefix("sqlite:///")) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(consentkit_csp_daily)")]
        dump = "\n".join(conn.iterdump())
    assert columns == ["day", "host", "directive", "path", "state", "reports"]
    for secret in ("secret-query", "secret-session-value", "Chrome/156", "testclient", "GA1"):
        assert secret not in dump
        assert all(secret not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("blocked", "host"),
    [
        ("inline", "inline"),
        ("eval", "eval"),
        ("data", "data"),
        ("blob:https://site.example/1234", "blob"),
        ("HTTPS://CDN.Example.COM/a.js", "cdn.example.com"),
        ("wss://live.example.com:8443/socket", "live.example.com:8443"),
        ("https://[2001:db8::1]/x", "[2001:db8::1]"),
    ],
)
def test_blocked_sources(blocked: str, host: str) -> None:
    body = json.dumps(reporting_api(blocked)).encode()
    assert parse_reports(body, "application/reports+json") == [(host, "script-src-elem", "/")]


def test_violated_directive_of_old_browsers() -> None:
    old = report_uri("https://ads.example/x.js")
    del old["csp-report"]["effective-directive"]
    old["csp-report"]["violated-directive"] = "script-src 'self' cdn.example.net"
    assert parse_reports(json.dumps(old).encode(), "application/json") == [
        ("ads.example", "script-src", "/")
    ]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        (b"{not json", CSP_REPORT, 400, "malformed_json"),
        (b"\xff\xfe", REPORTS_JSON, 400, "malformed_json"),
        (b"[" * 100_00 + b"]" * 100_00, REPORTS_JSON, 400, "malformed_json"),
        (b'"a string"', REPORTS_JSON, 400, "invalid_report"),
        (b'{"csp-report": 5}', CSP_REPORT, 400, "invalid_report"),
        (b"[]", REPORTS_JSON, 400, "invalid_report"),
        (json.dumps(reporting_api("https://x.example/", "frame-ancestors")).encode(),
         REPORTS_JSON, 400, "invalid_report"),
        (json.dumps(reporting_api("https://x.example/", page="")).replace(
            '"https://site.example"', '"javascript:alert(1)"').encode(),
         REPORTS_JSON, 400, "invalid_report"),
        (json.dumps(reporting_api("not a url at all")).encode(), REPORTS_JSON, 400,
         "invalid_report"),
        (json.dumps(report_uri("https://x.example/")).encode(), {"content-type": "text/plain"},
         415, "unsupported_media_type"),
        (json.dumps(report_uri("https://x.example/")).encode(), {}, 415,
         "unsupported_media_type"),
    ],
)  # fmt: skip
def test_malformed_reports_get_4xx(
    client: TestClient,
    config: ConsentConfig,
    body: bytes,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    answer = client.post(URL, content=body, headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.headers["cache-control"] == "no-store"


def test_other_report_types_are_accepted_but_not_counted(client: TestClient) -> None:
    other = [{"type": "deprecation", "url": "https://site.example/", "body": {"id": "x"}}]
    assert client.post(URL, content=json.dumps(other), headers=REPORTS_JSON).status_code == 204


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/consent/csp-report", 400),
        ("/consent/csp-report?state=unknown-category", 400),
        ("/consent/csp-report?state=marketing.analytics", 400),
        ("/consent/csp-report?state=necessary", 400),
        ("/consent/csp-report?state=analytics.marketing", 204),
        ("/consent/csp-report?state=undecided", 204),
    ],
)
def test_the_state_must_be_a_real_consent_state(client: TestClient, url: str, status: int) -> None:
    body = json.dumps(reporting_api("https://x.example/"))
    assert client.post(url, content=body, headers=REPORTS_JSON).status_code == status


def test_methods(client: TestClient) -> None:
    answer = client.get(URL)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


def test_huge_reports_get_413(client: TestClient) -> None:
    huge = json.dumps(reporting_api("https://x.example/" + "a" * MAX_BODY)).encode()
    assert client.post(URL, content=huge, headers=REPORTS_JSON).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(200):
            yield b" " * 1024

    answer = client.post(URL, content=chunks(), headers=REPORTS_JSON)
    assert answer.status_code == 413
    lying = {**REPORTS_JSON, "content-length": "99999999999999999999"}
    assert client.post(URL, content=b"[]", headers=lying).status_code in (400, 413)


def test_a_flood_is_limited_and_memory_stays_bounded(csp_config: ConfigFactory) -> None:
    config = csp_config(csp_report_rate=100_000)
    app = ConsentMiddleware(csp_site(), config=config)
    reports = app.csp_reports
    assert reports is not None
    batch_size = 100
    with TestClient(app) as client:
        for start in range(0, MAX_PENDING + 2 * batch_size, batch_size):
            batch = [
                reporting_api(f"https://t{i}.example/", page=f"/p/{i}")[0]
                for i in range(start, start + batch_size)
            ]
            batch += reporting_api("https://extra.example/")  # the 101st of a batch is ignored
            answer = client.post(URL, content=json.dumps(batch), headers=REPORTS_JSON)
            assert answer.status_code == 204
            assert reports.pending <= MAX_PENDING
        assert reports.dropped == 2 * batch_size
    assert len(rows(config)) == MAX_PENDING

    slow = ConsentMiddleware(csp_site(), config=csp_config(csp_report_rate=5))
    with TestClient(slow) as client:
        statuses = [
            client.post(
                URL, content=json.dumps(reporting_api("https://x.example/")), headers=REPORTS_JSON
            ).status_code
            for _ in range(40)
        ]
    assert statuses.count(204) >= 10
    assert statuses.count(429) >= 20
    assert set(statuses) == {204, 429}
    assert slow.csp_reports is not None and slow.csp_reports.limited == statuses.count(429)


def test_random_bodies_never_get_5xx(csp_config: ConfigFactory) -> None:
    app = ConsentMiddleware(csp_site(), config=csp_config(csp_report_rate=100_000))
    with TestClient(app) as client:
        _fuzz(client)


def _fuzz(client: TestClient) -> None:
    rng = random.Random(12)
    good = json.dumps(reporting_api("https://x.example/a.js")).encode()
    pieces = [b"{", b"}", b"[", b"]", b'"csp-report"', b":", b",", b"null", b"1e999", b'"\\u0000"',
              b'"type"', b'"csp-violation"', b'"body"', b"\xff", b"true"]  # fmt: skip
    for _ in range(300):
        if rng.random() < 0.5:
            body = bytearray(good)
            for _ in range(rng.randint(1, 5)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            content = bytes(body)
        else:
            content = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        headers = rng.choice([REPORTS_JSON, CSP_REPORT])
        answer = client.post(URL, content=content, headers=headers)
        assert answer.status_code in (204, 400), (content, answer.text)


def test_storage_failure_loses_counts_not_requests(
    csp_config: ConfigFactory, tmp_path: Path
) -> None:
    config = csp_config(storage=f"sqlite:///{tmp_path}/missing-dir/consent.db")
    app = ConsentMiddleware(csp_site(), config=config)
    reports = app.csp_reports
    assert reports is not None

    async def run() -> int:
        async def receive() -> dict[str, Any]:
            body = json.dumps(reporting_api("https://x.example/")).encode()
            return {"type": "http.request", "body": body}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/consent/csp-report",
            "query_string": b"state=none",
            "headers": [(b"content-type", b"application/reports+json")],
        }
        await reports.handle(scope, receive, send)
        await reports.flush()
        return int(sent[0]["status"])

    assert asyncio.run(run()) == 204
    assert reports.failed_writes == 1
    assert reports.pending == 0
