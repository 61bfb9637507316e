"""Fixtures for the scanner's tests: Chromium, the fixture sites, and running ``consentkit scan``.

The scans use Playwright's async API inside ``asyncio.run``, so they must run
before pytest-playwright's session browser starts: they use none of its
fixtures, and tests/conftest.py sorts the tests that do last. They skip when
Chromium or Playwright is missing, except on CI (``CI=true``), where that fails.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live import serve
from tests.scan import site as fixture_site

CHROMIUM = Path("/usr/bin/chromium")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import jsonschema  # noqa: F401
        import playwright  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the machine
        return f"{exc.name} is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def scan_tools() -> None:
    """Skip (fail on CI) when the browser tools are missing."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"scan tests cannot run on CI: {reason}")
    pytest.skip(reason)


@dataclass
class Site:
    """A fixture site being served: its URL, port and configuration's import path."""

    url: str
    port: int
    config: str
    secret: str


@pytest.fixture(scope="session")
def leaky_site(scan_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The site that leaks in every way the scanner looks for."""
    yield from _serve(True, tmp_path_factory)


@pytest.fixture(scope="session")
def clean_site(scan_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The same site with everything gated by consent."""
    yield from _serve(False, tmp_path_factory)


def _serve(leaky: bool, factory: pytest.TempPathFactory) -> Iterator[Site]:
    name = "LEAKY_CONFIG" if leaky else "CLEAN_CONFIG"
    db = factory.mktemp(name.lower().replace("_", "-")) / "consent.db"
    secret = secrets.token_urlsafe(32)
    app, config = fixture_site.build_site(leaky=leaky, storage=f"sqlite:///{db}", secret=secret)
    setattr(fixture_site, name, config)
    with serve(app) as url:
        yield Site(url, int(url.rsplit(":", 1)[1]), f"tests.scan.site:{name}", secret)
    delattr(fixture_site, name)


def browser_args(port: int) -> list[str]:
    """Chromium switches: ``*.test`` is loopback, and the tracker's origin counts as secure."""
    return [
        "--browser-path",
        str(CHROMIUM),
        "--browser-arg=--host-resolver-rules=MAP *.test 127.0.0.1",
        f"--browser-arg=--unsafely-treat-insecure-origin-as-secure=http://tracker.test:{port}",
    ]


@dataclass
class Scan:
    """One run of ``consentkit scan``: exit status, stdout, and the report when it wrote one."""

    status: int
    output: str
    out: Path | None

    @property
    def report(self) -> dict[str, Any]:
        """The JSON report of the evidence bundle (or of stdout)."""
        if self.out is not None:
            loaded: dict[str, Any] = json.loads((self.out / "report.json").read_text("utf-8"))
            return loaded
        parsed: dict[str, Any] = json.loads(self.output)
        return parsed

    def findings(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        """Findings of one kind by (item, name)."""
        return {(f["item"], f["name"]): f for f in self.report["findings"] if f["kind"] == kind}


def run_scan(*args: str) -> Scan:
    """``consentkit scan ARGS`` in-process."""
    from consentkit.cli import main

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = main(["scan", "--no-progress", *args])
    out = None
    if "--out" in args:
        out = Path(args[args.index("--out") + 1])
    return Scan(status, buffer.getvalue(), out)


@pytest.fixture(scope="session")
def scan_site() -> Callable[..., Scan]:
    """``scan_site(site, *extra, out=path)``: scan a fixture site with its configuration."""

    def scan(site: Site, *extra: str, out: Path | None = None, config: bool = True) -> Scan:
        args = [site.url + "/", *browser_args(site.port), "--settle", "0.3"]
        if config:
            args += ["--config", site.config]
        if out is not None:
            args += ["--out", str(out)]
        return run_scan(*args, *extra)

    return scan


@pytest.fixture(scope="session")
def leaky_scan(
    leaky_site: Site, scan_site: Callable[..., Scan], tmp_path_factory: pytest.TempPathFactory
) -> Scan:
    """One scan of the leaky site with an evidence bundle, shared by the tests that read it."""
    return scan_site(leaky_site, out=tmp_path_factory.mktemp("leaky-scan") / "bundle")
