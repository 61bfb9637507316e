"""Django under ASGI: the example served by uvicorn, and audited."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import EXAMPLES, SECRET

DJANGO_APP = EXAMPLES / "django_app"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CONSENTKIT_SECRET_KEYS": SECRET,
        "CONSENTKIT_STORAGE": f"sqlite:///{tmp_path}/x.db",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def django_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "djsite.asgi:application", "--port", str(port)],
        cwd=DJANGO_APP,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/consent", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"uvicorn did not start:\n{output}")
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_django_example_under_uvicorn(django_server: str) -> None:
    with httpx.Client(base_url=django_server) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert 'id="no-analytics"' in home.text and "consentkit" in home.text  # banner inserted
        assert "session" in home.cookies and "_ga" not in home.cookies
        assert client.get("/me").json() == {"decided": False, "granted": ["necessary"]}
        refused = client.get("/recommendations")
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "consent_required",
            "detail": {"category": "personalization"},
        }
        decided = client.post(
            "/consent", json={"action": "accept_all"}, headers={"origin": django_server}
        )
        assert decided.status_code == 200
        assert client.get("/me").json()["granted"] == [
            "analytics",
            "necessary",
            "personalization",
        ]
        home = client.get("/")
        assert 'id="analytics"' in home.text and "_ga" in home.cookies
        assert client.get("/recommendations").status_code == 200


def test_django_example_passes_the_audit(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consentkit.audit", "djsite.asgi:application", "--format", "json"],
        cwd=DJANGO_APP,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    seen = {c["name"]: c["passes"] for c in report["cookies"]}
    assert seen["_ga"] == ["accepted"]
    # Only the JSON views set nothing; reading_list is declared but never set on "/".
    assert {"cookie": "reading_list", "category": "personalization"} in report["stale_declarations"]
