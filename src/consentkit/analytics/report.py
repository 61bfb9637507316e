"""The analytics report: one dictionary for JSON, the dashboard and the command line.

Shape (stable)::

    {"days": [{"day", "views", "visitors", "new", "returning",
               "consented_views", "anonymous_views"}],
     "sections": [{"section", "views", "visitors", "pages": [{"path", "views", "visitors"}]}],
     "consent_share": float,          # consented views / all views, 0.0 without views
     "range": {"since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}}

Days appear oldest first and only when they have views; sections and their
pages by views, most first (ties by name).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from consentkit.analytics.store import AnalyticsStore, DayTotals, PageTotals

__all__ = ["build_report", "format_csv", "format_table", "query_report"]

DAY_FIELDS = (
    "day",
    "views",
    "visitors",
    "new",
    "returning",
    "consented_views",
    "anonymous_views",
)


def query_report(
    store: AnalyticsStore, since: date, until: date, section: str | None = None
) -> dict[str, Any]:
    """Read the report from ``store`` (blocking)."""
    return build_report(
        store.day_totals(since, until, section),
        store.page_totals(since, until, section),
        since,
        until,
    )


def build_report(
    days: list[DayTotals], pages: list[PageTotals], since: date, until: date
) -> dict[str, Any]:
    """Assemble the report dictionary from per-day and per-page sums."""
    day_rows = [
        {
            "day": d.day.isoformat(),
            "views": d.views,
            "visitors": d.visitors,
            "new": d.new,
            "returning": d.returning,
            "consented_views": d.consented_views,
            "anonymous_views": d.anonymous_views,
        }
        for d in sorted(days, key=lambda d: d.day)
    ]
    sections: dict[str, dict[str, Any]] = {}
    for page in pages:
        entry = sections.setdefault(
            page.section, {"section": page.section, "views": 0, "visitors": 0, "pages": []}
        )
        entry["views"] += page.views
        entry["visitors"] += page.visitors
        entry["pages"].append({"path": page.path, "views": page.views, "visitors": page.visitors})
    for entry in sections.values():
        entry["pages"].sort(key=lambda p: (-p["views"], -p["visitors"], p["path"]))
    section_rows = sorted(
        sections.values(), key=lambda s: (-s["views"], -s["visitors"], s["section"])
    )
    views = sum(d.views for d in days)
    consented = sum(d.consented_views for d in days)
    return {
        "days": day_rows,
        "sections": section_rows,
        "consent_share": round(consented / views, 6) if views else 0.0,
        "range": {"since": since.isoformat(), "until": until.isoformat()},
    }


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=False))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=False))
            )
        )
    return lines


def format_table(report: dict[str, Any], pages_per_section: int = 10) -> str:
    """The report for a terminal."""
    since, until = report["range"]["since"], report["range"]["until"]
    days = report["days"]
    total = {f: sum(d[f] for d in days) for f in DAY_FIELDS[1:]}
    out = [
        f"consentkit analytics, {since} to {until}",
        "",
        f"views {total['views']}, visitors {total['visitors']} "
        f"(new {total['new']}, returning {total['returning']}), "
        f"consented share of views {report['consent_share']:.1%}",
        "",
        "By day",
    ]
    if days:
        out += _table(
            ["day", "views", "visitors", "new", "returning", "consented", "anonymous"],
            [[str(d[f]) for f in DAY_FIELDS] for d in days],
        )
    else:
        out.append("(no views in this range)")
    out += ["", "By section"]
    if report["sections"]:
        rows: list[list[str]] = []
        for section in report["sections"]:
            rows.append([section["section"], str(section["views"]), str(section["visitors"])])
            for page in section["pages"][:pages_per_section]:
                rows.append(["  " + page["path"], str(page["views"]), str(page["visitors"])])
            hidden = len(section["pages"]) - pages_per_section
            if hidden > 0:
                rows.append([f"  ({hidden} more pages)", "", ""])
        out += _table(["section / page", "views", "visitors"], rows)
    else:
        out.append("(no sections)")
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    # Keep spreadsheets from reading a path or section as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def format_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row per page per section, then one row per day.

    Columns: ``kind,day,section,path,views,visitors,new,returning,consented_views,
    anonymous_views``; ``kind`` is ``day`` or ``page``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "day", "section", "path", *DAY_FIELDS[1:]])
    for d in report["days"]:
        writer.writerow(["day", d["day"], "", "", *(d[f] for f in DAY_FIELDS[1:])])
    for section in report["sections"]:
        for page in section["pages"]:
            writer.writerow(
                [
                    "page",
                    "",
                    _cell(section["section"]),
                    _cell(page["path"]),
                    page["views"],
                    page["visitors"],
                    "",
                    "",
                    "",
                    "",
                ]
            )
    return buffer.getvalue()
