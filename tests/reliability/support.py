"""Helpers for the reliability tests: raw ASGI calls, a TCP proxy, a uvicorn subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live import UvicornProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: The secret key of the site in ``site_app`` (the tests look for it in logs and output).
SECRET = "reliability-secret-key-0123456789abcdef-S3CR3T"
#: A visitor address that must never be stored or logged raw.
RAW_IP = "203.0.113.77"


@dataclass
class Answer:
    """What an ASGI app sent back for one request."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    error: BaseException | None = None

    def header_values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name]


async def asgi_call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | dict[str, str] | None = None,
    body: bytes | list[bytes] = b"",
    *,
    client: tuple[str, int] | None = (RAW_IP, 40000),
    scheme: str = "http",
    query: bytes = b"",
) -> Answer:
    """Call ``app`` with one HTTP request, exactly as a server would; never raises.

    An exception escaping the app is what a server turns into a 500: it is
    returned in ``error`` with status 500.
    """
    if isinstance(headers, dict):
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    else:
        raw = list(headers or [])
    if not any(k == b"host" for k, _ in raw):
        raw.append((b"host", b"testserver"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": query,
        "headers": raw,
        "client": client,
        "server": ("testserver", 80),
    }
    chunks = list(body) if isinstance(body, list) else [body]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:  # what a server would answer with a 500
        return Answer(500, [], b"", exc)
    start = next(m for m in messages if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Answer(start["status"], list(start.get("headers", [])), data)


class TcpProxy:
    """A TCP proxy on a fixed loopback port that can be cut and restored.

    ``cut()`` drops every live connection and stops listening (new connections
    are refused), as a stopped server would; ``restore()`` listens again on the
    same port, as a restarted one would.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.accepted = 0

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class SiteProcess(UvicornProcess):
    """``uvicorn tests.reliability.site_app:app`` in its own process, on a free port."""

    def __init__(self, storage: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(
            "tests.reliability.site_app:app",
            log_path,
            env={
                "CONSENTKIT_TEST_STORAGE": storage,
                # The caller's PYTHONPATH stays after the repository (a checkout's src).
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
                ),
                **(env or {}),
            },
            args=("--no-proxy-headers",),
            cwd=REPO,
        )

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)
