"""Decisions as the log keeps them, on both backends: decision ids, site host, expiry."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient
from tests.conftest import ORIGIN, site

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.errors import ConsentKitError
from consentkit.log import ConsentRecord
from consentkit.log.read import open_reader

FORM = {"content-type": "application/x-www-form-urlencoded", **ORIGIN}
ID = "a" * 16 + "-_Z9"


@pytest.fixture
def app_client(store_url: str, make_config: Callable[..., ConsentConfig]) -> Iterator[TestClient]:
    app = ConsentMiddleware(site(), config=make_config(storage=store_url))
    with TestClient(app) as client:
        yield client


def records(url: str) -> list[ConsentRecord]:
    with open_reader(url) as reader:
        return list(reader.records())


def test_a_repeated_decision_id_is_stored_once(app_client: TestClient, store_url: str) -> None:
    body = {"action": "accept_all", "decision_id": ID}
    first = app_client.post("/consent", json=body, headers=ORIGIN)
    app_client.cookies.clear()  # the retry comes without the cookie it never got
    second = app_client.post("/consent", json=body, headers=ORIGIN)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert "consentkit=" in second.headers["set-cookie"]
    stored = records(store_url)
    assert [r.decision_id for r in stored] == [ID]


def test_the_same_id_for_another_choice_gets_422(app_client: TestClient, store_url: str) -> None:
    app_client.post("/consent", json={"action": "accept_all", "decision_id": ID}, headers=ORIGIN)
    for body in (
        {"action": "reject_all", "decision_id": ID},
        {"action": "custom", "categories": {"analytics": True}, "decision_id": ID},
    ):
        response = app_client.post("/consent", json=body, headers=ORIGIN)
        assert response.status_code == 422
        assert response.json()["error"] == "decision_id_reused"
        assert "set-cookie" not in response.headers
    assert len(records(store_url)) == 1


def test_forms_carry_a_decision_id_and_retries_are_stored_once(
    app_client: TestClient, store_url: str
) -> None:
    page = app_client.get("/").text
    ids = re.findall(r'name="decision_id" value="([0-9a-f]{32})"', page)
    assert len(ids) == 2 and len(set(ids)) == 2  # one per banner form
    again = re.findall(r'name="decision_id" value="([0-9a-f]{32})"', app_client.get("/").text)
    assert not set(again) & set(ids)  # fresh on every page
    privacy = app_client.get("/privacy").text
    assert len(set(re.findall(r'name="decision_id" value="([0-9a-f]{32})"', privacy))) == 1
    form = f"action=reject_all&next=%2F&decision_id={ids[0]}"
    answers = []
    for _ in range(2):
        app_client.cookies.clear()
        answer = app_client.post("/consent", content=form, headers=FORM, follow_redirects=False)
        assert answer.status_code == 303
        answers.append(app_client.get("/whoami").json())
    assert answers[0] == answers[1]
    assert answers[0]["decided"] and answers[0]["granted"] == ["necessary"]
    assert [r.decision_id for r in records(store_url)] == [ids[0]]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("short", "json"),
        ("x" * 65, "json"),
        ("has space in it..", "json"),
        ("bad/char/0123456789", "json"),
        (12345678901234567890, "json"),
        (None, "json-null"),
        ("", "form"),
        ("ünïcödé-0123456789", "form"),
    ],
)
def test_bad_decision_ids_get_400_and_nothing_is_stored(
    app_client: TestClient, store_url: str, value: object, kind: str
) -> None:
    if kind == "form":
        response = app_client.post(
            "/consent", content=f"action=accept_all&decision_id={value}", headers=FORM
        )
    elif kind == "json-null":
        response = app_client.post(
            "/consent", content=b'{"action":"accept_all","decision_id":null}',
            headers={"content-type": "application/json", **ORIGIN},
        )  # fmt: skip
        # null is "no id": an ordinary decision
        assert response.status_code == 200
        assert records(store_url)[0].decision_id is None
        return
    else:
        body = {"action": "accept_all", "decision_id": value}
        response = app_client.post("/consent", json=body, headers=ORIGIN)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_decision_id"
    assert set(response.json()) == {"error", "detail"}
    assert "set-cookie" not in response.headers
    with pytest.raises(ConsentKitError, match=r"no consent log|no SQLite database"):
        records(store_url)


def test_a_repeated_decision_id_field_gets_400(app_client: TestClient) -> None:
    form = f"action=accept_all&decision_id={ID}&decision_id={ID}"
    response = app_client.post("/consent", content=form, headers=FORM)
    assert response.status_code == 400
    assert response.json() == {"error": "repeated_field", "detail": "decision_id"}


def test_records_name_the_site_and_when_the_consent_expires(
    store_url: str, make_config: Callable[..., ConsentConfig]
) -> None:
    config = make_config(storage=store_url, consent_lifetime=timedelta(days=30))
    app = ConsentMiddleware(site(), config=config)
    with TestClient(app, base_url="https://testserver") as client:
        headers = {"sec-fetch-site": "same-origin", "host": "Shop.Example.ORG.:443"}
        assert client.post("/consent", json={"action": "accept_all"}, headers=headers).is_success
        client.delete("/consent", headers=headers)
        client.post(
            "/consent", json={"action": "reject_all"},
            headers={**headers, "host": "bad host/../x"},
        )  # fmt: skip
    accept, withdraw, odd = records(store_url)
    assert accept.site_host == withdraw.site_host == "shop.example.org"
    decided = datetime.fromisoformat(accept.timestamp)
    assert datetime.fromisoformat(str(accept.expires_at)) - decided == timedelta(days=30)
    assert withdraw.expires_at == withdraw.timestamp  # nothing stands after a withdrawal
    assert odd.site_host is None  # a malformed Host is not recorded


def test_one_decision_id_twice_in_a_batch_or_from_two_writers(store_url: str) -> None:
    """Stored once whether the twin comes in the same batch or through another writer."""
    import asyncio
    from dataclasses import replace

    from logsupport import SECRET, decision

    from consentkit.log import derive_log_key, open_consent_log

    async def run() -> list[ConsentRecord]:
        first = open_consent_log(store_url, derive_log_key(SECRET))
        second = open_consent_log(store_url, derive_log_key(SECRET))
        twin = replace(decision(1), decision_id="twin-0123456789abcdef")
        other = replace(decision(2), decision_id="other-0123456789abcdef")
        try:
            answers = list(
                await asyncio.gather(first.append(twin), first.append(twin), first.append(other))
            )
            answers.append(await second.append(replace(twin, consent_id="someone-else")))
            return answers
        finally:
            await first.close()
            await second.close()

    answers = asyncio.run(run())
    assert len({a.record_id for a in answers[:2]} | {answers[3].record_id}) == 1
    assert answers[3].consent_id == answers[0].consent_id  # the stored answer
    stored = records(store_url)
    assert sorted(str(r.decision_id) for r in stored) == [
        "other-0123456789abcdef",
        "twin-0123456789abcdef",
    ]


@pytest.mark.parametrize(
    ("host", "scheme", "recorded"),
    [
        ("Shop.Example.ORG", "https", "shop.example.org"),
        ("shop.example.org.", "https", "shop.example.org"),
        ("shop.example.org:443", "https", "shop.example.org"),
        ("shop.example.org:443", "http", "shop.example.org:443"),
        ("shop.example.org:80", "http", "shop.example.org"),
        ("localhost:08000", "http", "localhost:8000"),
        ("203.0.113.7:8443", "https", "203.0.113.7:8443"),
        ("[2001:DB8::1]:8443", "https", "[2001:db8::1]:8443"),
        ("xn--bcher-kva.example", "https", "xn--bcher-kva.example"),
        (None, "https", None),
        ("", "https", None),
        ("bücher.example", "https", None),
        ("evil.example/path", "https", None),
        ("evil.example:0", "https", None),
        ("evil.example:65536", "https", None),
        ("-leading.example", "https", None),
        ("a" * 64 + ".example", "https", None),
        (("a" * 60 + ".") * 5 + "example", "https", None),
        ("two words", "https", None),
        ("x.example\r\nSet-Cookie: a=b", "https", None),
    ],
)
def test_site_host_is_validated_normalised_and_bounded(
    host: str | None, scheme: str, recorded: str | None
) -> None:
    from consentkit.endpoints import site_host

    assert site_host(host, scheme) == recorded
