"""The findings model shared by ``consentkit audit`` and ``consentkit scan``.

Both commands report what they found as a list of `Finding` inside one JSON
envelope (`envelope`), described by the JSON Schema shipped as
``consentkit/schemas/findings.schema.json`` (`schema`). The envelope's
``findings``, ``ok``, ``tool`` and ``schema_version`` mean the same in both;
each command adds its own sections beside them (the schema allows that).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "CONFIDENCES",
    "ITEMS",
    "KINDS",
    "SCHEMA_VERSION",
    "SOURCES",
    "UNCLASSIFIED",
    "UNKNOWN",
    "Classification",
    "Finding",
    "envelope",
    "schema",
]

SCHEMA_VERSION = 1

#: What a finding says, worst first. ``unenforced``: consentkit cannot act there (a
#: cookie-setting middleware outside it, HTML in a coding it cannot insert into).
KINDS = ("leak", "not_removed", "unenforced", "undeclared", "stale", "misfiled")
#: What a finding is about.
ITEMS = (
    "cookie",
    "local_storage",
    "session_storage",
    "indexeddb",
    "request",
    "beacon",
    "websocket",
    "embed",
    "middleware",
    "encoding",
)
#: Where a classification came from.
SOURCES = ("declaration", "framework", "open-cookie-database", "allow-list", "unknown")
#: How sure a classification is.
CONFIDENCES = ("high", "medium", "low", "none")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classification:
    """The category of a cookie, storage key or request, and where that came from.

    ``category`` is a category key of the site, a category of the Open Cookie
    Database in lower case (``analytics``, ``marketing``, ``functional``,
    ``security``, ``personalization``, ``necessary``) or ``"unknown"``.
    """

    category: str
    source: str
    confidence: str
    necessary: bool
    #: What matched: the declared name, the database's platform, the framework.
    detail: str | None = None
    #: The database's description of the cookie, when it has one.
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "category": self.category,
            "source": self.source,
            "confidence": self.confidence,
            "necessary": self.necessary,
            "detail": self.detail,
        }


UNCLASSIFIED = Classification(UNKNOWN, UNKNOWN, "none", necessary=False)


@dataclass
class Finding:
    """One problem: a leak, something not removed, undeclared, stale or misfiled."""

    kind: str
    item: str
    name: str
    category: str
    classification: Classification
    message: str
    domain: str | None = None
    #: The visitors (``undecided``, ``reject_all``, ... or the audit's passes) it was seen as.
    visitors: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    #: What set or sent it: a script URL, ``Set-Cookie from URL``, a request.
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.item not in ITEMS:
            raise ValueError(f"unknown item {self.item!r}")

    def sort_key(self) -> tuple[int, str, str, str]:
        """Worst kind first, then by item, name and domain."""
        return (KINDS.index(self.kind), self.item, self.name, self.domain or "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``finding`` of the schema)."""
        return {
            "kind": self.kind,
            "item": self.item,
            "name": self.name,
            "domain": self.domain,
            "category": self.category,
            "classification": self.classification.as_dict(),
            "visitors": sorted(self.visitors),
            "pages": sorted(self.pages),
            "frames": sorted(self.frames),
            "sources": sorted(self.sources),
            "message": self.message,
        }


def envelope(tool: str, ok: bool, findings: Iterable[Finding]) -> dict[str, Any]:
    """The shared top of a report: ``schema_version``, ``tool``, ``ok``, counts, findings."""
    ordered = sorted(findings, key=Finding.sort_key)
    counts = {kind: 0 for kind in KINDS}
    for finding in ordered:
        counts[finding.kind] += 1
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": tool,
        "ok": ok,
        "counts": counts,
        "findings": [f.as_dict() for f in ordered],
    }


@cache
def _schema_text() -> str:
    return resources.files("consentkit.schemas").joinpath("findings.schema.json").read_text("utf-8")


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the reports of ``audit`` and ``scan``."""
    loaded: dict[str, Any] = json.loads(_schema_text())
    return loaded
