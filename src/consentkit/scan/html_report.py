"""The self-contained HTML report: one file, no external resources, screenshots inline."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from consentkit.scan.report import (
    _TITLES,
    HOSTS_TITLE,
    ITEM_LABELS,
    NOT_SEEN,
    ScanReport,
    host_rows,
)

__all__ = ["render_html"]

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.ok{color:#1a7f37}.bad{color:#cf222e}code{font-size:.9em}
.shots{display:flex;flex-wrap:wrap;gap:1rem}.shots figure{margin:0;width:22rem}
.shots img{width:100%;border:1px solid #d0d7de}small{color:#59636e}
"""


def _cell(text: object) -> str:
    return f"<td>{escape(str(text))}</td>"


def _list(values: list[str], limit: int = 6) -> str:
    shown = [escape(v) for v in values[:limit]]
    if len(values) > limit:
        shown.append(f"… and {len(values) - limit} more")
    return "<br>".join(shown)


def render_html(report: ScanReport, evidence: Path | None = None) -> str:
    """The report as one HTML document a site owner can send on."""
    result = report.result
    states = result.state_names()
    status = (
        '<p class="ok"><strong>No leak.</strong></p>'
        if report.ok
        else '<p class="bad"><strong>Findings that fail the scan: see below.</strong></p>'
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>consentkit scan of {escape(result.target)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Cookie and tracking scan of {escape(result.target)}</h1>",
        f"<p>{len(result.pages)} page(s), each loaded by {len(states)} visitor state(s): "
        f"{escape(', '.join(states))}. Scan from {escape(result.started)} to "
        f"{escape(result.finished)} (UTC) with {escape(result.browser_version or 'Chromium')}. "
        f"Declaration read from: {escape(result.declaration_source)}.</p>",
        status,
    ]
    for kind in ("leak", "not_removed", "undeclared", "misfiled", "stale"):
        found = [f for f in report.findings if f.kind == kind]
        parts.append(f"<h2>{escape(_TITLES[kind])} ({len(found)})</h2>")
        if not found:
            parts.append("<p>None.</p>")
            continue
        parts.append(
            "<table><tr><th>What</th><th>Name</th><th>Domain</th><th>Category</th>"
            "<th>Classified by</th><th>Visitors</th><th>Pages</th><th>Set or sent by</th></tr>"
        )
        for f in found:
            c = f.classification
            parts.append(
                "<tr>"
                + _cell(ITEM_LABELS.get(f.item, f.item))
                + f"<td><code>{escape(f.name)}</code></td>"
                + _cell(f.domain or "")
                + _cell(f.category)
                + _cell(f"{c.source} ({c.confidence})" + (f": {c.detail}" if c.detail else ""))
                + f"<td>{_list(f.visitors)}</td><td>{_list(f.pages)}</td>"
                + f"<td>{_list(f.sources)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Everything seen</h2><table><tr><th>What</th><th>Name</th><th>Domain</th>")
    parts.append("<th>Category</th>" + "".join(f"<th>{escape(s)}</th>" for s in states) + "</tr>")
    for item in sorted(report.items, key=lambda i: (i.item, i.name, i.domain)):
        parts.append(
            "<tr>"
            + _cell(ITEM_LABELS.get(item.item, item.item))
            + f"<td><code>{escape(item.name)}</code></td>"
            + _cell(item.domain)
            + _cell(f"{item.classification.category} ({item.classification.source})")
            + "".join(_cell("✔" if s in item.states else "") for s in states)
            + "</tr>"
        )
    parts.append("</table>")
    rows = host_rows(report.hosts)
    if rows:
        parts.append(
            f"<h2>{escape(HOSTS_TITLE)}</h2><p>A category's host is proposed when only the "
            "visitor who granted that category reached it; a csp_always_allow host was "
            "reached by every visitor.</p><table><tr><th>For</th><th>Host</th><th>Status</th>"
            "<th>Host names seen</th></tr>"
        )
        for row in rows:
            parts.append("<tr>" + _cell(row[0]) + f"<td><code>{escape(row[1])}</code></td>")
            parts.append(_cell(row[2]) + _cell(row[3]) + "</tr>")
        parts.append("</table>")
    if evidence is not None and result.screenshots:
        parts.append("<h2>First page as each visitor saw it</h2><div class='shots'>")
        for visitor, relative in sorted(result.screenshots.items()):
            path = evidence / relative
            if path.is_file():
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(
                    f"<figure><img alt='{escape(visitor)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{escape(visitor)}</figcaption></figure>"
                )
        parts.append("</div>")
    parts.append("<h2>Pages</h2><ul>")
    parts += [f"<li><code>{escape(p)}</code></li>" for p in result.pages]
    parts.append("</ul>")
    parts.append(f"<h2>What this scan cannot see</h2><p>{escape(NOT_SEEN)}</p>")
    parts.append(
        "<p><small>Classification: the site's declaration, a list of framework session and "
        "CSRF cookies, then the Open Cookie Database (Apache License 2.0).</small></p>"
    )
    parts.append("</body></html>\n")
    return "".join(parts)
