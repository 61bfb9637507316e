"""The signed log as a site runs it: receipts for visitors, scheduled checkpoints, one key rule."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.cli import run_cli
from tests.conftest import KEY, ORIGIN, site

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.log.chain import derive_log_key
from consentkit.log.checkpoint import CheckpointSink, SinkError, parse_checkpoints
from consentkit.log.receipt import verify_receipt
from consentkit.log.signing import derive_signing_key


def _public_key_file(tmp_path: Path, secret: str = KEY) -> Path:
    path = tmp_path / "site.pub"
    path.write_bytes(derive_signing_key(derive_log_key(secret).secret).public.pem())
    return path


@pytest.fixture
def signed_client(make_config: Callable[..., ConsentConfig]) -> Iterator[TestClient]:
    app = ConsentMiddleware(site(), config=make_config(log_checkpoint_interval=0))
    with TestClient(app) as client:
        yield client


def test_decided_visitor_downloads_a_receipt_from_the_privacy_page(
    signed_client: TestClient,
) -> None:
    undecided = signed_client.get("/privacy")
    assert "/consent/receipt" not in undecided.text
    refused = signed_client.get("/consent/receipt")
    assert refused.status_code == 404
    assert refused.json()["error"] == "not_decided"

    signed_client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    page = signed_client.get("/privacy")
    assert '<a href="/consent/receipt" download="consentkit-receipt.json">' in page.text
    assert "Download a receipt of your decision" in page.text
    response = signed_client.get("/consent/receipt")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    receipt = response.json()
    consent_id = signed_client.get("/consent").json()["consent_id"]
    assert receipt["record"]["consent_id"] == consent_id
    assert receipt["record"]["action"] == "accept_all"
    public = derive_signing_key(derive_log_key(KEY).secret).public
    result = verify_receipt(receipt, {public.key_id: public})
    assert result.ok, result.problems
    # A later decision gets a receipt of its own.
    assert receipt["record"]["decision_id"] is None  # the MAC covers it only when set
    # A later decision, with a decision id as the snippet sends, gets a receipt of its own.
    decision = {"action": "reject_all", "decision_id": "retry-safe-id-0123456789"}
    signed_client.post("/consent", json=decision, headers=ORIGIN)
    later = signed_client.get("/consent/receipt").json()
    assert later["record"]["action"] == "reject_all"
    assert later["record"]["decision_id"] == decision["decision_id"]
    assert later["record"]["site_host"] and later["record"]["expires_at"]
    assert verify_receipt(later, {public.key_id: public}).ok


def test_a_covered_record_reuses_the_stored_checkpoint(signed_client: TestClient) -> None:
    """Only a record no checkpoint covers yet makes a new checkpoint."""
    for _ in range(3):
        signed_client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    first = signed_client.get("/consent/receipt")
    assert first.status_code == 200
    second = signed_client.get("/consent/receipt")
    assert second.json()["checkpoint"] == first.json()["checkpoint"]  # no new checkpoint needed


def test_middleware_and_command_line_take_the_log_key_by_one_rule(
    make_config: Callable[..., ConsentConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log_key = "L" * 40
    monkeypatch.setenv("CONSENTKIT_LOG_KEY", log_key)
    config = make_config(log_checkpoint_interval=0)
    with TestClient(ConsentMiddleware(site(), config=config)) as client:
        assert client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN).is_success
    result = run_cli(
        "log", "verify", "--storage", config.storage, env={"CONSENTKIT_LOG_KEY": log_key}
    )
    assert result.returncode == 0, result.stderr
    assert "keys: log key from CONSENTKIT_LOG_KEY" in result.stderr
    # Only the secret keys: the command line says which sources it tried.
    wrong = run_cli(
        "log", "verify", "--storage", config.storage, env={"CONSENTKIT_SECRET_KEYS": KEY}
    )
    assert wrong.returncode == 3
    assert "wrong log key" in wrong.stderr
    assert "tried: log keys derived from CONSENTKIT_SECRET_KEYS (1)" in wrong.stderr
    # The site's own log_key outranks the environment, for both.
    monkeypatch.setenv("CONSENTKIT_LOG_KEY", "E" * 40)
    explicit = make_config(log_key="C" * 40, log_checkpoint_interval=0)
    middleware = ConsentMiddleware(site(), config=explicit)
    assert middleware.log_key.key_id == derive_log_key("C" * 40).key_id


def test_checkpoints_are_made_on_schedule_and_handed_to_the_sink(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    witness = tmp_path / "witness.jsonl"
    config = make_config(log_checkpoint_interval=0.2, log_checkpoint_sink=str(witness))
    with TestClient(ConsentMiddleware(site(), config=config)) as client:
        client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        deadline = time.monotonic() + 10
        while not witness.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert witness.exists(), "no scheduled checkpoint reached the sink"
        client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN)
    # Shutting down writes a last checkpoint covering everything.
    checkpoints = parse_checkpoints(witness.read_text())
    assert len(checkpoints) >= 2
    last = checkpoints[-1]
    assert sum(entry["seq"] for entry in last.chains.values()) == 2
    public = _public_key_file(tmp_path)
    result = run_cli(
        "log", "verify", "--storage", config.storage, "--public-key", str(public),
        "--checkpoint", str(witness),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_site_without_decisions_makes_no_checkpoint_and_no_warning(
    make_config: Callable[..., ConsentConfig],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before its first decision the log may not exist: the scheduler waits quietly."""
    witness = tmp_path / "witness.jsonl"
    config = make_config(log_checkpoint_interval=0.05, log_checkpoint_sink=str(witness))
    with (
        caplog.at_level(logging.WARNING, logger="consentkit"),
        TestClient(ConsentMiddleware(site(), config=config)) as client,
    ):
        assert client.get("/privacy").status_code == 200
        time.sleep(0.3)  # several ticks
    assert not witness.exists()
    assert "checkpoint" not in caplog.text


def test_exec_and_http_sinks(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from consentkit.log.checkpoint import build_checkpoint

    checkpoint = build_checkpoint(
        {}, [], (0, ""), derive_signing_key(b"k" * 32), datetime.now(timezone.utc)
    )
    out = tmp_path / "from-command.json"
    CheckpointSink(f"exec:sh -c 'cat > {out}'").send(checkpoint)
    assert parse_checkpoints(out.read_text())[0].document == checkpoint.document
    with pytest.raises(SinkError, match="exited with 3"):
        CheckpointSink("exec:sh -c 'exit 3'").send(checkpoint)

    received: list[Any] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(201 if self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        CheckpointSink(f"{base}/ok").send(checkpoint)
        assert received == [checkpoint.document]
        with pytest.raises(SinkError):
            CheckpointSink(f"{base}/fail").send(checkpoint)
    finally:
        server.shutdown()
        server.server_close()
    directory = tmp_path / "dir"
    directory.mkdir()
    CheckpointSink(f"file:{directory}").send(checkpoint)
    assert len(list(directory.glob("checkpoint-*.json"))) == 1
    with pytest.raises(ValueError, match="needs a command"):
        CheckpointSink("exec:")
