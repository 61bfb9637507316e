"""What the consent policy blocked, summed up for ``consentkit csp report`` and the dashboard.

The JSON document (``--format json``) is stable::

    {"since": "2026-01-01", "until": "2026-01-30", "reports": 12,
     "days": [{"day": "2026-01-02", "reports": 3}, ...],
     "hosts": [{"host": "www.youtube.com", "reports": 9,
                "directives": {"frame-src": 9}, "states": {"none": 7, "undecided": 2},
                "pages": [{"path": "/news", "reports": 9}]}, ...],
     "rows": [{"day", "host", "directive", "path", "state", "reports"}, ...]}

Hosts come most-reported first, each with its five most-reported pages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from consentkit.csp.store import ViolationCount

__all__ = ["format_table", "summarise"]

_TOP_PAGES = 5


def summarise(counts: list[ViolationCount], since: date, until: date) -> dict[str, Any]:
    """The report document for the counts of ``since`` to ``until``."""
    days: dict[date, int] = {}
    hosts: dict[str, dict[str, Any]] = {}
    for row in counts:
        days[row.day] = days.get(row.day, 0) + row.reports
        entry = hosts.setdefault(
            row.host, {"host": row.host, "reports": 0, "directives": {}, "states": {}, "pages": {}}
        )
        entry["reports"] += row.reports
        for field, value in (
            ("directives", row.directive),
            ("states", row.state),
            ("pages", row.path),
        ):
            entry[field][value] = entry[field].get(value, 0) + row.reports
    ordered = sorted(hosts.values(), key=lambda e: (-e["reports"], e["host"]))
    for entry in ordered:
        entry["directives"] = dict(sorted(entry["directives"].items()))
        entry["states"] = dict(sorted(entry["states"].items()))
        pages = sorted(entry["pages"].items(), key=lambda p: (-p[1], p[0]))[:_TOP_PAGES]
        entry["pages"] = [{"path": path, "reports": n} for path, n in pages]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "reports": sum(days.values()),
        "days": [{"day": d.isoformat(), "reports": days[d]} for d in sorted(days)],
        "hosts": ordered,
        "rows": [
            {
                "day": r.day.isoformat(),
                "host": r.host,
                "directive": r.directive,
                "path": r.path,
                "state": r.state,
                "reports": r.reports,
            }
            for r in counts
        ],
    }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=False)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def format_table(summary: dict[str, Any]) -> str:
    """The report as text: blocked hosts first, then every count."""
    lines = [
        f"CSP reports {summary['since']} to {summary['until']} (UTC): {summary['reports']}",
    ]
    if not summary["hosts"]:
        lines.append("Nothing was reported as blocked by consent.")
        return "\n".join(lines)
    lines.append("")
    lines += _table(
        ["host", "reports", "directives", "consent states", "top page"],
        [
            [
                h["host"],
                str(h["reports"]),
                ",".join(h["directives"]),
                ",".join(f"{s}={n}" for s, n in h["states"].items()),
                h["pages"][0]["path"] if h["pages"] else "",
            ]
            for h in summary["hosts"]
        ],
    )
    lines.append("")
    lines += _table(
        ["day", "host", "directive", "path", "state", "reports"],
        [
            [r["day"], r["host"], r["directive"], r["path"], r["state"], str(r["reports"])]
            for r in summary["rows"]
        ],
    )
    return "\n".join(lines)
