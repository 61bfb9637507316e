"""The evidence bundle ``--out DIR`` leaves behind.

``report.json``, ``report.txt``, ``report.html``, ``declaration.py`` (a draft),
``meta.json`` (consentkit, Playwright, browser and Python versions, the scan's
start and end times in UTC, its arguments), ``screenshots/VISITOR.png`` (the
first page as each visitor saw it), ``har/VISITOR.har`` (every request of each
visitor) and ``SHA256SUMS``: the SHA-256 of every other file, in the format
``sha256sum -c SHA256SUMS`` checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from consentkit.scan.html_report import render_html
from consentkit.scan.report import ScanReport, draft_declaration, write_table

__all__ = ["MANIFEST", "manifest_lines", "metadata_document", "write_bundle"]

MANIFEST = "SHA256SUMS"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def metadata_document(report: ScanReport) -> dict[str, Any]:
    """Versions, times and arguments of the scan."""
    result = report.result
    return {
        "tool": "consentkit scan",
        "target": result.target,
        "started": result.started,
        "finished": result.finished,
        "arguments": report.arguments,
        "versions": {
            "consentkit": _version("consentkit"),
            "playwright": _version("playwright"),
            "browser": result.browser_version,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "pages": len(result.pages),
        "visitor_states": result.state_names(),
        "screenshots": dict(sorted(result.screenshots.items())),
        "har": dict(sorted(result.hars.items())),
    }


def manifest_lines(folder: Path) -> list[str]:
    """``HASH  PATH`` for every file under ``folder`` but the manifest, sorted by path."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 16), b""):
                digest.update(block)
        lines.append(f"{digest.hexdigest()}  {relative}")
    return lines


def write_bundle(report: ScanReport, folder: Path) -> None:
    """Write the reports, the draft declaration, the metadata and the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    document = report.as_dict()
    (folder / "report.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    text = io.StringIO()
    write_table(report, text)
    (folder / "report.txt").write_text(text.getvalue(), "utf-8")
    (folder / "report.html").write_text(render_html(report, folder), "utf-8")
    (folder / "declaration.py").write_text(draft_declaration(report), "utf-8")
    meta = metadata_document(report)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
    (folder / MANIFEST).write_text("\n".join(manifest_lines(folder)) + "\n", "utf-8")
