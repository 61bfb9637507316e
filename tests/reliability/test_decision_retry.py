"""A decision whose confirmation is lost, then retried: stored once, answered the same.

The site runs under uvicorn behind the fault harness's TCP proxy. The log
commits the decision, then the proxy is cut before the answer leaves the
server: the visitor never gets its cookie. The retry, with the same decision
id, gets the stored answer (the same consent id, the same choice and time)
and the log holds one record, still verifying.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from consentkit.log import ConsentRecord, Decision
from tests.live import serve
from tests.reliability.conftest import PG_DSN, with_search_path
from tests.reliability.mixed_load import UA, verify
from tests.reliability.site_app import build
from tests.reliability.support import TcpProxy
from tests.reliability.test_faults import Visitor

DECISION_ID = "retry-0123456789abcdef"


def _records(storage: str) -> list[ConsentRecord]:
    from consentkit.log.read import open_reader

    with open_reader(storage) as reader:
        return list(reader.records())


def _lost_then_retried(storage: str) -> None:
    app = build(storage)
    with serve(app) as url:
        target = httpx.URL(url)
        proxy = TcpProxy((target.host, target.port or 80))
        proxy.restore()
        via = f"http://127.0.0.1:{proxy.port}"
        committed: list[ConsentRecord] = []
        append = app.log.append

        async def commit_then_lose_the_answer(decision: Decision) -> ConsentRecord:
            record = await append(decision)  # committed durably
            if not committed:
                committed.append(record)
                await asyncio.to_thread(proxy.cut)  # the answer never reaches the visitor
            return record

        app.log.append = commit_then_lose_the_answer  # type: ignore[method-assign]
        body: dict[str, Any] = {
            "action": "custom",
            "categories": {"analytics": True, "marketing": False},
            "decision_id": DECISION_ID,
        }
        try:
            with httpx.Client(base_url=via, headers=UA, timeout=20.0) as http:
                with pytest.raises(httpx.TransportError):
                    http.post("/consent", json=body, headers={"origin": via})
                assert len(committed) == 1
                assert http.cookies.get("consentkit") is None
                proxy.restore()

                retry = http.post("/consent", json=body, headers={"origin": via})
                assert retry.status_code == 200, retry.text
                state = retry.json()
                assert state["consent_id"] == committed[0].consent_id
                assert state["granted"] == ["analytics", "necessary"]
                assert state["decided_at"].startswith(committed[0].timestamp[:19])
                assert "consentkit=" in retry.headers["set-cookie"]

                again = http.post("/consent", json=body, headers={"origin": via})
                assert again.json() == state  # a third try: still the stored answer

                changed = http.post(
                    "/consent",
                    json={"action": "reject_all", "decision_id": DECISION_ID},
                    headers={"origin": via},
                )
                assert changed.status_code == 422
                assert changed.json()["error"] == "decision_id_reused"
                assert "set-cookie" not in changed.headers

                # Other visitors' decisions (no id, or their own) go on as usual.
                assert Visitor(url).decide().status_code == 200
        finally:
            proxy.cut()
    records = _records(storage)
    mine = [r for r in records if r.decision_id == DECISION_ID]
    assert len(mine) == 1, "the retry must not store a second record"
    assert mine[0].record_id == committed[0].record_id
    assert len(records) == 2
    assert verify(storage).startswith("OK: 2 records")


@pytest.mark.slow
def test_sqlite_retry_after_lost_confirmation(tmp_path: Path) -> None:
    _lost_then_retried(f"sqlite:///{tmp_path / 'site.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_retry_after_lost_confirmation(pg_schema: tuple[Any, str]) -> None:
    _, schema = pg_schema
    _lost_then_retried(with_search_path(PG_DSN, schema))
