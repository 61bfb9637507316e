"""The analytics dashboard: ``GET {prefix}/dashboard``, one self-contained HTML page.

Off (404) unless ``config.dashboard_auth`` is set: either a callable
``(request) -> bool | Awaitable[bool]`` (a false answer gives 403) or a
``("user", "password")`` pair checked as HTTP basic auth (401 with
``WWW-Authenticate`` when missing or wrong). The page has the report's
numbers, charts as inline SVG (new vs returning visitors per day, top
sections, consent rate per category per day) and tables with the same
numbers. No scripts and no external assets; it fits a phone screen.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from consentkit.analytics.report import DAY_FIELDS
from consentkit.analytics.tracker import AnalyticsTracker
from consentkit.config import ConsentConfig

__all__ = ["consent_rates", "dashboard_endpoint", "render_dashboard"]

logger = logging.getLogger("consentkit.analytics")

DEFAULT_DAYS = 30
MAX_DAYS = 400
_REALM = 'Basic realm="consentkit dashboard", charset="UTF-8"'
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
#: Chart colours (WCAG AA against white for text and large marks).
_BLUE, _GREEN, _GREY = "#1f5fa8", "#1e7a45", "#5a6270"
_LINE_COLOURS = ("#1f5fa8", "#b4461e", "#1e7a45", "#7a3ea0", "#8a6d00", "#0f6f7a")


def _check_basic(request: Request, user: str, password: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, sep, given_password = decoded.partition(b":")
    if not sep:
        return False
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return user_ok and password_ok


async def _authorise(request: Request, config: ConsentConfig) -> Response | None:
    auth = config.dashboard_auth
    if auth is None:
        return PlainTextResponse("Not Found", status_code=404)
    if isinstance(auth, tuple):
        if _check_basic(request, auth[0], auth[1]):
            return None
        return PlainTextResponse(
            "Authorisation required",
            status_code=401,
            headers={"WWW-Authenticate": _REALM, "Cache-Control": "no-store"},
        )
    try:
        verdict: Any = auth(request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
    except Exception:
        logger.exception("dashboard_auth raised; access refused")
        verdict = False
    if verdict:
        return None
    return PlainTextResponse("Forbidden", status_code=403, headers={"Cache-Control": "no-store"})


async def dashboard_endpoint(
    request: Request,
    tracker: AnalyticsTracker,
    consent_stats: Callable[[], Awaitable[list[Any]]] | None,
    config: ConsentConfig,
    *,
    csp_counts: Callable[[date, date], Awaitable[list[Any]]] | None = None,
) -> Response:
    """Answer ``GET {prefix}/dashboard[?days=N]`` (N from 1 to 400, default 30).

    With ``csp_counts`` (the consent CSP's report counts) the page has a
    "Blocked by consent" panel.
    """
    if request.method not in ("GET", "HEAD"):
        return PlainTextResponse(
            "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
        )
    refused = await _authorise(request, config)
    if refused is not None:
        return refused
    try:
        days = int(request.query_params.get("days", DEFAULT_DAYS))
    except ValueError:
        days = DEFAULT_DAYS
    days = max(1, min(days, MAX_DAYS))
    until = tracker.today()
    since = until - timedelta(days=days - 1)
    try:
        report = await tracker.report(since, until)
    except Exception as exc:
        logger.error("dashboard could not read analytics storage (%s)", type(exc).__name__)
        return HTMLResponse(
            _page("Analytics", "<p>Analytics storage is unavailable right now.</p>"),
            status_code=503,
            headers=_HEADERS,
        )
    stats: list[Any] = []
    stats_error = False
    if consent_stats is not None:
        try:
            stats = list(await _call_stats(consent_stats, since))
        except Exception as exc:
            logger.error("dashboard could not read consent statistics (%s)", type(exc).__name__)
            stats_error = True
    blocked: dict[str, Any] | None = None
    if csp_counts is not None:
        from consentkit.csp.summary import summarise

        try:
            blocked = summarise(await csp_counts(since, until), since, until)
        except Exception as exc:
            logger.error("dashboard could not read CSP report counts (%s)", type(exc).__name__)
            blocked = {"error": True}
    optional = [(c.key, c.label) for c in config.categories if not c.required]
    body = render_dashboard(
        report, stats, optional, since, until, stats_error=stats_error, blocked=blocked
    )
    return HTMLResponse(body, headers=_HEADERS)


async def _call_stats(consent_stats: Callable[..., Awaitable[list[Any]]], since: date) -> list[Any]:
    # ConsentLog.stats(since: datetime | None) narrows the query; a bare callable gets no argument.
    try:
        parameters = inspect.signature(consent_stats).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    if parameters:
        start = datetime.combine(since, time.min, tzinfo=timezone.utc)
        return [s for s in await consent_stats(start) if _in_range(s, since)]
    return [s for s in await consent_stats() if _in_range(s, since)]


def _in_range(item: Any, since: date) -> bool:
    day = _as_day(_field(item, "day"))
    return day is not None and day >= since


# -- rendering -------------------------------------------------------------------


def _field(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _as_day(value: Any) -> date | None:
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _as_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return max(number, 0)


def consent_rates(
    stats: list[Any], keys: list[str]
) -> tuple[list[date], dict[str, list[float | None]], list[int]]:
    """Per day: decisions and the share of them granting each key (``None`` without decisions)."""
    decisions: dict[date, int] = {}
    granted: dict[date, dict[str, int]] = {}
    for item in stats:
        day = _as_day(_field(item, "day"))
        if day is None:
            continue
        # Visitors' choices when the log counts them apart (GPC overrides,
        # withdrawals and repeated identical decisions are not choices).
        choices = _field(item, "choices")
        count = _as_int(_field(item, "decisions") if choices is None else choices)
        decisions[day] = decisions.get(day, 0) + count
        grants = _field(item, "granted")
        per_key = granted.setdefault(day, {})
        if isinstance(grants, Mapping):
            for key in keys:
                per_key[key] = per_key.get(key, 0) + _as_int(grants.get(key))
    days = sorted(decisions)
    rates: dict[str, list[float | None]] = {
        key: [
            min(granted[d].get(key, 0) / decisions[d], 1.0) if decisions[d] else None for d in days
        ]
        for key in keys
    }
    return days, rates, [decisions[d] for d in days]


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _chart_new_returning(report: dict[str, Any], since: date, until: date) -> str:
    by_day = {d["day"]: d for d in report["days"]}
    span = (until - since).days + 1
    width, height, left, bottom, top = 480, 200, 36, 24, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max([d["new"] + d["returning"] for d in report["days"]] + [1])
    bar_w = plot_w / span
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="nr-title" '
        'class="chart" xmlns="http://www.w3.org/2000/svg">',
        '<title id="nr-title">New and returning visitors per day</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        f'stroke="{_GREY}" stroke-width="1"/>',
        f'<text x="{left - 4}" y="{top + 12}" text-anchor="end" class="axis">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="axis">0</text>',
    ]
    for index in range(span):
        day = since + timedelta(days=index)
        entry = by_day.get(day.isoformat())
        if entry is None:
            continue
        x = left + index * bar_w + bar_w * 0.1
        w = max(bar_w * 0.8, 0.5)
        new_h = plot_h * entry["new"] / peak
        ret_h = plot_h * entry["returning"] / peak
        base = top + plot_h
        label = escape(f"{day}: {entry['new']} new, {entry['returning']} returning")
        parts.append(
            f"<g><title>{label}</title>"
            f'<rect x="{_num(x)}" y="{_num(base - ret_h)}" width="{_num(w)}" '
            f'height="{_num(ret_h)}" fill="{_GREEN}"/>'
            f'<rect x="{_num(x)}" y="{_num(base - ret_h - new_h)}" width="{_num(w)}" '
            f'height="{_num(new_h)}" fill="{_BLUE}"/></g>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" class="axis">{since.isoformat()}</text>'
        f'<text x="{width - 8}" y="{height - 6}" text-anchor="end" class="axis">'
        f"{until.isoformat()}</text></svg>"
    )
    legend = (
        '<p class="legend"><span class="key" style="background:' + _BLUE + '"></span>new '
        '<span class="key" style="background:' + _GREEN + '"></span>returning</p>'
    )
    return "".join(parts) + legend


def _chart_sections(report: dict[str, Any], limit: int = 10) -> str:
    sections = report["sections"][:limit]
    if not sections:
        return "<p>No page views in this period.</p>"
    row_h, label_w, width = 30, 150, 480
    height = row_h * len(sections) + 8
    peak = max(s["views"] for s in sections) or 1
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="sec-title" '
        'class="chart" xmlns="http://www.w3.org/2000/svg">',
        '<title id="sec-title">Top sections by views</title>',
    ]
    for index, section in enumerate(sections):
        y = 4 + index * row_h
        bar = (width - label_w - 60) * section["views"] / peak
        name = section["section"]
        short = name if len(name) <= 18 else name[:17] + "\u2026"
        parts.append(
            f"<g><title>{escape(name)}: {section['views']} views, "
            f"{section['visitors']} visitors</title>"
            f'<text x="{label_w - 6}" y="{y + 18}" text-anchor="end" class="label">'
            f"{escape(short)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{_num(max(bar, 1))}" height="{row_h - 8}" '
            f'fill="{_BLUE}"/>'
            f'<text x="{_num(label_w + max(bar, 1) + 6)}" y="{y + 18}" class="label">'
            f"{section['views']}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _chart_consent(stats: list[Any], optional: list[tuple[str, str]]) -> str:
    keys = [key for key, _ in optional]
    days, rates, decisions = consent_rates(stats, keys)
    if not days:
        return "<p>No consent decisions in the log yet.</p>"
    width, height, left, bottom, top = 480, 200, 48, 24, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    step = plot_w / max(len(days) - 1, 1)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="cr-title" '
        'class="chart" xmlns="http://www.w3.org/2000/svg">',
        '<title id="cr-title">Share of decisions granting each category, per day</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        f'stroke="{_GREY}"/>',
        f'<text x="{left - 4}" y="{top + 12}" text-anchor="end" class="axis">100%</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="axis">0%</text>',
    ]
    legend: list[str] = []
    for index, (key, label) in enumerate(optional):
        colour = _LINE_COLOURS[index % len(_LINE_COLOURS)]
        points = [
            f"{_num(left + i * step)},{_num(top + plot_h * (1 - rate))}"
            for i, rate in enumerate(rates[key])
            if rate is not None
        ]
        if len(points) == 1:
            x, y = points[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
        elif points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(points)}"><title>{escape(label)}</title></polyline>'
            )
        legend.append(f'<span class="key" style="background:{colour}"></span>{escape(label)} ')
    parts.append(
        f'<text x="{left}" y="{height - 6}" class="axis">{days[0].isoformat()}</text>'
        f'<text x="{width - 8}" y="{height - 6}" text-anchor="end" class="axis">'
        f"{days[-1].isoformat()}</text></svg>"
    )
    rows = "".join(
        f"<tr><td>{d.isoformat()}</td><td>{n}</td>"
        + "".join(f"<td>{'' if rates[k][i] is None else f'{rates[k][i]:.0%}'}</td>" for k in keys)
        + "</tr>"
        for i, (d, n) in enumerate(zip(days, decisions, strict=True))
    )
    heads = "".join(f"<th>{escape(label)}</th>" for _, label in optional)
    table = (
        '<details><summary>Consent decisions per day</summary><div class="scroll"><table>'
        f"<thead><tr><th>day</th><th>decisions</th>{heads}</tr></thead>"
        f"<tbody>{rows}</tbody></table></div></details>"
    )
    return "".join(parts) + '<p class="legend">' + "".join(legend) + "</p>" + table


def _blocked_panel(blocked: dict[str, Any] | None) -> str:
    if blocked is None:
        return ""
    title = '<h2 id="blocked">Blocked by consent</h2>\n'
    if blocked.get("error"):
        return title + "<p>The CSP report counts could not be read.</p>\n"
    if not blocked["hosts"]:
        return title + "<p>No browser reported a host blocked by consent in this period.</p>\n"
    rows = "".join(
        f"<tr><td>{escape(h['host'])}</td><td>{h['reports']}</td>"
        f"<td>{escape(', '.join(h['directives']))}</td>"
        f"<td>{escape(', '.join(f'{s} {n}' for s, n in h['states'].items()))}</td>"
        f"<td>{escape(h['pages'][0]['path'] if h['pages'] else '')}</td></tr>"
        for h in blocked["hosts"][:20]
    )
    return (
        f"{title}<p>{blocked['reports']} reports of requests the consent policy refused "
        "(or, in report-only mode, would have refused), by blocked host. The consent state "
        "is the one the page was served under.</p>\n"
        '<div class="scroll"><table><thead><tr><th>host</th><th>reports</th>'
        "<th>directives</th><th>consent states</th><th>top page</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>\n"
    )


def _page(title: str, content: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{escape(title)}</title>
<style>
body{{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1d21;
background:#fff;margin:0;padding:1rem;max-width:60rem;margin-inline:auto}}
h1{{font-size:1.5rem;margin:.5rem 0}} h2{{font-size:1.15rem;margin:1.5rem 0 .5rem}}
.cards{{display:flex;flex-wrap:wrap;gap:.75rem;padding:0;margin:0;list-style:none}}
.cards li{{flex:1 1 8rem;border:1px solid #c9ced6;border-radius:.5rem;padding:.5rem .75rem}}
.cards b{{display:block;font-size:1.4rem}}
.chart{{width:100%;max-width:36rem;height:auto;display:block}}
.axis,.label{{font-size:14px;fill:#3d434c}} .label{{font-size:15px}}
.section td{{font-weight:600}}
.legend{{font-size:.9rem;margin:.25rem 0}}
.key{{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .6rem;
vertical-align:middle;border-radius:2px}}
.scroll{{overflow-x:auto}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}}
th,td{{text-align:right;padding:.25rem .5rem;border-bottom:1px solid #e1e4e8}}
th:first-child,td:first-child{{text-align:left;word-break:break-all}}
nav a{{margin-right:.75rem;color:#1f5fa8}}
</style></head><body>
{content}
</body></html>
"""


def render_dashboard(
    report: dict[str, Any],
    stats: list[Any],
    optional: list[tuple[str, str]],
    since: date,
    until: date,
    *,
    stats_error: bool = False,
    blocked: dict[str, Any] | None = None,
) -> str:
    """The dashboard page for a report and the consent log's per-day statistics.

    ``blocked`` is `consentkit.csp.summary.summarise`'s document (``{"error": True}``
    when it could not be read); with it the page shows what the consent policy blocked.
    """
    days = report["days"]
    views = sum(d["views"] for d in days)
    visitors = sum(d["visitors"] for d in days)
    new = sum(d["new"] for d in days)
    returning = sum(d["returning"] for d in days)
    span = (until - since).days + 1
    cards = "".join(
        f"<li>{label}<b>{value}</b></li>"
        for label, value in (
            ("Views", views),
            ("Visitors (per day, summed)", visitors),
            ("New", new),
            ("Returning", returning),
            ("Views with consent", f"{report['consent_share']:.0%}"),
        )
    )
    section_rows = "".join(
        f'<tr class="section"><td>{escape(s["section"])}</td><td>{s["views"]}</td>'
        f"<td>{s['visitors']}</td></tr>"
        + "".join(
            f"<tr><td>&nbsp;&nbsp;{escape(p['path'])}</td><td>{p['views']}</td>"
            f"<td>{p['visitors']}</td></tr>"
            for p in s["pages"][:5]
        )
        for s in report["sections"][:10]
    )
    day_rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(d[f]))}</td>" for f in DAY_FIELDS) + "</tr>"
        for d in reversed(days)
    )
    consent = (
        "<p>The consent log could not be read.</p>"
        if stats_error
        else _chart_consent(stats, optional)
    )
    nav = "".join(f'<a href="?days={n}">{n} days</a>' for n in (7, 30, 90, 365))
    content = f"""<h1>Analytics</h1>
<p>{since.isoformat()} to {until.isoformat()} ({span} days, UTC). <nav>{nav}</nav></p>
<ul class="cards">{cards}</ul>
<h2>New and returning visitors</h2>
{_chart_new_returning(report, since, until)}
<h2>Top sections</h2>
{_chart_sections(report)}
<div class="scroll"><table><thead><tr><th>section / page</th><th>views</th><th>visitors</th>
</tr></thead><tbody>{section_rows}</tbody></table></div>
<h2>Consent rate</h2>
{consent}
{_blocked_panel(blocked)}<h2>Days</h2>
<details><summary>Views per day</summary><div class="scroll"><table><thead><tr><th>day</th>
<th>views</th><th>visitors</th><th>new</th><th>returning</th><th>consented</th>
<th>anonymous</th></tr></thead><tbody>{day_rows}</tbody></table></div></details>
"""
    return _page("Analytics - consentkit", content)
