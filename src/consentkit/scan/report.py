"""Turning what the browsers saw into findings, a JSON report, a table and a draft declaration."""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from consentkit.findings import Classification, Finding, envelope
from consentkit.scan.browser import Sighting
from consentkit.scan.classify import Classifier, same_site
from consentkit.scan.hosts import HostProposals, ProposedHost, propose_hosts
from consentkit.scan.runner import ScanResult

__all__ = ["FAIL_ON", "Item", "ScanReport", "build_report", "draft_declaration", "write_table"]

#: Finding kinds ``--fail-on`` may add to the ones that always fail (leak, not removed).
FAIL_ON = ("undeclared", "stale", "misfiled")
ALWAYS_FAIL = ("leak", "not_removed")
STORED = ("cookie", "local_storage", "session_storage", "indexeddb")
ITEM_LABELS = {
    "cookie": "cookie",
    "local_storage": "localStorage",
    "session_storage": "sessionStorage",
    "indexeddb": "IndexedDB",
    "request": "request",
    "beacon": "beacon",
    "websocket": "WebSocket",
}
#: What a browser scan cannot see, said in every report.
NOT_SEEN = (
    "The scanner sees what a browser does on the pages it visits while nobody uses them: "
    "pages behind a login (unless given --storage-state), what happens after clicks other "
    "than the consent banner's, scrolling or forms, links only scripts create, and "
    "server-side sharing of data are not seen."
)


@dataclass
class Item:
    """One cookie, storage key or third-party host, across every visitor state."""

    item: str
    name: str
    domain: str
    classification: Classification
    first_party: bool
    states: dict[str, Sighting] = field(default_factory=dict)

    def as_dict(self, order: Sequence[str]) -> dict[str, Any]:
        """JSON-ready form."""
        attributes: dict[str, Any] = {}
        for state in order:
            sighting = self.states.get(state)
            if sighting is not None and sighting.attributes and not attributes:
                attributes = {
                    k: sorted(v) if isinstance(v, set) else v
                    for k, v in sorted(sighting.attributes.items())
                }
        return {
            "item": self.item,
            "name": self.name,
            "domain": self.domain,
            "party": "first" if self.first_party else "third",
            "classification": self.classification.as_dict(),
            "attributes": attributes,
            "visitors": {
                state: {
                    "present": s.present,
                    "pages": sorted(s.pages),
                    "frames": sorted(s.frames),
                    "sources": sorted(s.sources),
                }
                for state in order
                if (s := self.states.get(state)) is not None
            },
        }


@dataclass
class ScanReport:
    """The findings of one scan and everything they were drawn from."""

    result: ScanResult
    items: list[Item]
    findings: list[Finding]
    fail_on: frozenset[str]
    #: The command line's parsed arguments, for the evidence bundle.
    arguments: dict[str, Any] = field(default_factory=dict)
    #: ``Category.hosts`` and ``csp_always_allow`` proposed from the requests seen.
    hosts: HostProposals = field(default_factory=lambda: HostProposals([]))

    @property
    def ok(self) -> bool:
        """True when no finding of a failing kind was made."""
        return not any(f.kind in self.fail_on for f in self.findings)

    @property
    def exit_status(self) -> int:
        """0 clean, 1 findings that fail."""
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON report (``consentkit/schemas/findings.schema.json``)."""
        order = self.result.state_names()
        document = envelope("scan", self.ok, self.findings)
        document.update(
            {
                "target": self.result.target,
                "fail_on": sorted(self.fail_on),
                "declaration_source": self.result.declaration_source,
                "categories": [
                    {"key": c.key, "label": c.label, "required": c.required, "names": list(c.names)}
                    for c in self.result.categories
                ],
                "visitors": [
                    {
                        "name": state,
                        "visitor": visitor.name,
                        "decided": visitor.decided,
                        "granted": sorted(granted),
                        "description": visitor.description,
                    }
                    for visitor in self.result.visitors
                    for state, granted in visitor.states()
                ],
                "pages": self.result.pages,
                "skipped": sorted(self.result.crawl.skipped, key=lambda s: (s["url"], s["reason"])),
                "items": [
                    item.as_dict(order)
                    for item in sorted(self.items, key=lambda i: (i.item, i.name, i.domain))
                ],
                "errors": sorted(
                    [*self.result.crawl.errors, *self.result.errors],
                    key=lambda e: tuple(sorted(e.items())),
                ),
                "not_seen": NOT_SEEN,
                "hosts": self.hosts.as_dict(),
            }
        )
        return document


def _item_classification(
    classifier: Classifier, item: str, name: str, domain: str, allow_hosts: Sequence[str]
) -> Classification:
    host = domain.split("://")[-1].split(":")[0]
    if any(host == h or host.endswith("." + h) for h in allow_hosts):
        return Classification("necessary", "allow-list", "high", True, detail=host)
    if item in STORED:
        return classifier.classify_name(name, host)
    return classifier.classify_host(host)


def build_report(
    result: ScanResult,
    *,
    fail_on: Iterable[str] = (),
    allow_hosts: Sequence[str] = (),
    arguments: dict[str, Any] | None = None,
) -> ScanReport:
    """Classify everything seen and draw the findings."""
    site_host = result.target.split("://", 1)[-1].split(":")[0].strip("[]")
    classifier = Classifier(result.categories, site_host)
    allow = [h.lower().lstrip(".") for h in allow_hosts]
    items: dict[tuple[str, str, str], Item] = {}
    for state in result.state_names():
        for key, sighting in result.states.get(state, {}).items():
            item = items.get(key)
            if item is None:
                host = key[2].split("://")[-1].split(":")[0]
                item = items[key] = Item(
                    key[0],
                    key[1],
                    key[2],
                    _item_classification(classifier, key[0], key[1], key[2], allow),
                    same_site(host, site_host),
                )
            item.states[state] = sighting
    findings = _findings(result, list(items.values()), classifier)
    hosts = propose_hosts(
        result, lambda host: _item_classification(classifier, "request", host, host, allow)
    )
    return ScanReport(
        result,
        list(items.values()),
        findings,
        frozenset(ALWAYS_FAIL) | frozenset(fail_on),
        dict(arguments or {}),
        hosts,
    )


def _findings(result: ScanResult, items: list[Item], classifier: Classifier) -> list[Finding]:
    keys = {c.key for c in result.categories}
    required = {c.key for c in result.categories if c.required}
    optional = frozenset(keys - required)

    def allowed(classification: Classification, state: str) -> bool:
        if classification.necessary:
            return True
        key = classification.category if classification.category in keys else None
        if key in required:
            return True
        granted = result.granted(state)
        if key is not None:
            return key in granted
        return bool(optional) and granted == optional

    findings: list[Finding] = []
    for item in items:
        label = ITEM_LABELS[item.item]
        category = item.classification.category
        leaks: list[str] = []
        kept: list[str] = []
        for state, sighting in item.states.items():
            if allowed(item.classification, state):
                continue
            if state.endswith("_withdrawn") and item.item in STORED:
                if sighting.present:
                    kept.append(state)
            else:
                leaks.append(state)
        what = f"{label} {item.name!r} ({category})"
        for kind, states, text in (
            ("leak", leaks, f"{what} without consent to it"),
            ("not_removed", kept, f"{what} still there after withdrawal"),
        ):
            if states:
                findings.append(_finding(kind, item, states, text))
        if item.item in STORED and item.classification.source not in ("declaration", "allow-list"):
            findings.append(
                _finding(
                    "undeclared",
                    item,
                    list(item.states),
                    f"{label} {item.name!r} on {item.domain} is not in the declaration"
                    f" (classified {category} by {item.classification.source})",
                )
            )
        if item.classification.source == "declaration" and category not in required:
            only = [s for s in item.states if s.startswith("only_")]
            if only and f"only_{category}" not in item.states:
                findings.append(
                    _finding(
                        "misfiled",
                        item,
                        only,
                        f"{label} {item.name!r} is declared in {category!r} but appears only"
                        f" when {', '.join(s[5:] for s in sorted(only))} is granted",
                    )
                )
    seen_names = [i.name for i in items if i.item in STORED]
    for declared in result.categories:
        for name in declared.names:
            if name.endswith("*"):
                found = any(seen.startswith(name[:-1]) for seen in seen_names)
            else:
                found = name in seen_names
            if not found:
                findings.append(
                    Finding(
                        "stale",
                        "cookie",
                        name,
                        declared.key,
                        Classification(declared.key, "declaration", "high", declared.required),
                        f"{name!r} is declared in {declared.key!r} but was never seen",
                    )
                )
    return findings


def _finding(kind: str, item: Item, states: list[str], message: str) -> Finding:
    sightings = [item.states[s] for s in states]
    return Finding(
        kind,
        item.item,
        item.name,
        item.classification.category,
        item.classification,
        message,
        domain=item.domain,
        visitors=sorted(states),
        pages=sorted({p for s in sightings for p in s.pages}),
        frames=sorted({f for s in sightings for f in s.frames}),
        sources=sorted({x for s in sightings for x in s.sources}),
    )


# Output for people.


_CONTROL = dict.fromkeys([*range(32), 127], "?")


def _table(rows: list[list[str]], out: TextIO) -> None:
    # Names come from the pages scanned: no terminal control characters reach the screen.
    rows = [[cell.translate(_CONTROL) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write("  " + "  ".join(cells).rstrip() + "\n")


def _short(values: Sequence[str], limit: int = 3) -> str:
    if len(values) <= limit:
        return ", ".join(values)
    return ", ".join(values[:limit]) + f" (+{len(values) - limit})"


_TITLES = {
    "leak": "Leaks: set or sent without consent to their category",
    "not_removed": "Not removed after withdrawal",
    "undeclared": "Undeclared: seen but not in the declaration",
    "misfiled": "Misfiled: seen only when another category is granted",
    "stale": "Stale: declared but never seen",
}


HOSTS_TITLE = "Hosts for the consent-aware CSP (Category.hosts, csp_always_allow)"


def _seen(proposed: dict[str, Any]) -> str:
    seen: list[str] = proposed["seen"]
    return "" if seen == [proposed["host"]] else _short(seen)


def host_rows(hosts: HostProposals) -> list[tuple[str, str, str, str]]:
    """The host proposals as rows: for (a category or ``csp_always_allow``), host, status,
    the host names seen."""
    section = hosts.as_dict()
    rows: list[tuple[str, str, str, str]] = []
    for category in section["categories"]:
        rows += [(category["key"], h, "declared", "") for h in category["declared"]]
        rows += [(category["key"], p["host"], "proposed", _seen(p)) for p in category["proposed"]]
    always = section["csp_always_allow"]
    rows += [("csp_always_allow", h, "declared", "") for h in always["declared"]]
    rows += [("csp_always_allow", p["host"], "proposed", _seen(p)) for p in always["proposed"]]
    rows += [("-", n["host"], f"not proposed: {n['reason']}", "") for n in section["not_proposed"]]
    return rows


def write_table(report: ScanReport, out: TextIO) -> None:
    """The report as text for a terminal."""
    result = report.result
    states = result.state_names()
    out.write(f"consentkit scan of {result.target}\n")
    out.write(
        f"{len(result.pages)} page(s) x {len(states)} visitor state(s): {', '.join(states)}\n"
        f"Declaration from: {result.declaration_source}\n"
    )
    for kind in ("leak", "not_removed", "undeclared", "misfiled", "stale"):
        found = [f for f in report.findings if f.kind == kind]
        out.write(f"\n{_TITLES[kind]}:\n")
        if not found:
            out.write("  none\n")
            continue
        rows = [["WHAT", "NAME", "DOMAIN", "CATEGORY (SOURCE)", "VISITORS", "SET / SENT BY"]]
        for f in sorted(found, key=Finding.sort_key):
            rows.append(
                [
                    ITEM_LABELS.get(f.item, f.item),
                    f.name,
                    f.domain or "",
                    f"{f.category} ({f.classification.source})",
                    _short(f.visitors),
                    _short(f.sources, 2),
                ]
            )
        _table(rows, out)
    if report.items:
        out.write("\nEverything seen (x: seen by that visitor state):\n")
        rows = [["WHAT", "NAME", "DOMAIN", "CATEGORY", *(s.upper() for s in states)]]
        for item in sorted(report.items, key=lambda i: (i.item, i.name, i.domain)):
            rows.append(
                [
                    ITEM_LABELS.get(item.item, item.item),
                    item.name,
                    item.domain,
                    f"{item.classification.category} ({item.classification.source})",
                    *("x" if s in item.states else "-" for s in states),
                ]
            )
        _table(rows, out)
    hosts = host_rows(report.hosts)
    if hosts:
        out.write(f"\n{HOSTS_TITLE}:\n")
        _table([["FOR", "HOST", "STATUS", "SEEN"], *(list(row) for row in hosts)], out)
    errors = [*result.crawl.errors, *result.errors]
    if errors:
        out.write("\nErrors:\n")
        for error in errors:
            where = error.get("page") or error.get("url", "")
            out.write(f"  {error.get('visitor', 'crawl')}: {where}: {error['error']}\n")
    out.write(f"\nNot seen: {NOT_SEEN}\n")
    if report.ok:
        out.write("\nResult: no leak (exit 0).\n")
    else:
        failing = [f for f in report.findings if f.kind in report.fail_on]
        out.write(f"\nResult: {len(failing)} failing finding(s) (exit 1).\n")


# The draft declaration.


def _literal(text: str) -> str:
    return repr(text)


def _duration(item: Item) -> str:
    for sighting in item.states.values():
        if "lifetime" in sighting.attributes:
            lifetime = sighting.attributes["lifetime"]
            if lifetime is None:
                return "session"
            days = round(lifetime / 86400)
            return f"{days} days" if days >= 1 else f"{max(1, round(lifetime / 3600))} hours"
    if item.item == "session_storage":
        return "session"
    return "until cleared"


def draft_declaration(report: ScanReport) -> str:
    """Python source declaring every cookie and storage key found, by category, with the
    third-party hosts each category's pages reach (``hosts``) and the ``csp_always_allow``
    candidates."""
    declared = {c.key: c for c in report.result.categories}
    hosts = {c.key: c for c in report.hosts.categories if c.declared or c.proposed}
    groups: dict[str, list[Item]] = {}
    for item in sorted(report.items, key=lambda i: (i.name, i.domain, i.item)):
        if item.item not in STORED:
            continue
        groups.setdefault(item.classification.category, []).append(item)
    lines = [
        '"""Draft cookie declaration written by `consentkit scan`: check every entry."""',
        "",
        "from consentkit import Category, Cookie",
        "",
        "categories = [",
    ]
    unknown = groups.pop("unknown", [])
    keys = {*groups, *hosts}
    order = [k for k in declared if k in keys] + sorted(k for k in keys if k not in declared)
    for key in order:
        existing = declared.get(key)
        label = existing.label if existing else key.capitalize()
        slug = key if key.isidentifier() and not keyword.iskeyword(key) else "category"
        lines.append("    Category(")
        lines.append(f"        key={_literal(slug)},")
        lines.append(f"        label={_literal(label)},")
        if (existing and existing.required) or key == "necessary":
            lines.append("        required=True,")
        lines.append(f"        description={_literal('(describe what this category is for)')},")
        lines.append("        cookies=[" if key in groups else "        cookies=[],")
        names: set[str] = set()
        for item in groups.get(key, []):
            if item.name in names:
                continue
            names.add(item.name)
            provider = None if item.first_party else item.domain
            detail = item.classification.description or item.classification.detail
            purpose = detail or "(describe what it is for)"
            what = ITEM_LABELS[item.item]
            lines.append("            Cookie(")
            lines.append(f"                name={_literal(item.name)},")
            if provider:
                lines.append(f"                provider={_literal(provider)},")
            lines.append(f"                purpose={_literal(purpose)},")
            lines.append(f"                duration={_literal(_duration(item))},")
            lines.append(f"            ),  # {what} on {item.domain}, {item.classification.source}")
        if key in groups:
            lines.append("        ],")
        if key in hosts:
            lines += _host_lines(
                "        hosts=[",
                hosts[key].declared,
                hosts[key].proposed,
                f"seen only when {key} was granted",
            )
            lines.append("        ],")
        lines.append("    ),")
    lines.append("]")
    proposals = report.hosts
    if proposals.always_declared or proposals.always_proposed:
        lines += [
            "",
            "# Hosts every visitor's pages reached, whatever the consent (a CDN, web fonts): allow",
            "# them always if the site needs them, else gate them and move them to their category.",
            "# ConsentConfig(..., categories=categories, csp_always_allow=csp_always_allow)",
            *_host_lines(
                "csp_always_allow = [",
                proposals.always_declared,
                proposals.always_proposed,
                "seen by every visitor",
            ),
            "]",
        ]
    if proposals.leaking:
        lines += ["", "# Reached by every visitor but classified non-necessary: gate them first:"]
        lines += [f"#   {host!r}: {kind}" for host, kind in proposals.leaking]
    if proposals.not_proposed:
        lines += ["", "# Third-party hosts not proposed for any category:"]
        lines += [f"#   {host!r}: {reason}" for host, reason in proposals.not_proposed]
    if unknown:
        lines += ["", "# Not classified (decide their category, then move them above):"]
        for item in unknown:
            lines.append(f"#   {ITEM_LABELS[item.item]} {item.name!r} on {item.domain}")
    return "\n".join(lines) + "\n"


def _host_lines(
    opening: str, declared: Sequence[str], proposed: Sequence[ProposedHost], why: str
) -> list[str]:
    indent = " " * (len(opening) - len(opening.lstrip()) + 4)
    lines = [opening]
    lines += [f"{indent}{_literal(source)},  # declared" for source in declared]
    for host in proposed:
        seen = "" if host.hosts == (host.source,) else f" ({_short(list(host.hosts))})"
        lines.append(f"{indent}{_literal(host.source)},  # {why}{seen}")
    return lines
