"""Proposing ``Category.hosts`` and ``csp_always_allow`` from the third parties a scan saw.

A host is proposed for category ``K`` when the visitor who granted only ``K``
(or accepted all, when ``K`` is the one optional category) reached it, and no
visitor who granted nothing (undecided, reject all, after withdrawal) did. A
host every visitor reached, whatever the consent, is a ``csp_always_allow``
candidate, unless something classifies it as a non-necessary category: then
it is a leak to gate, not a host to allow. Anything else (seen only when every
category was granted, or before consent by some visitors only) is not
proposed, and the report says why.

Many subdomains of one registrable parent within one category's proposal
(at least `COLLAPSE_AT`) become ``*.parent``, but only when no host under that
parent appears anywhere else in the scan (another category, every visitor,
before consent), the parent is not the scanned site, and it is not a shared
hosting domain where each subdomain is someone else (`SHARED_PARENTS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consentkit.findings import Classification
from consentkit.scan.classify import site_of
from consentkit.scan.runner import ScanResult

__all__ = [
    "COLLAPSE_AT",
    "SHARED_PARENTS",
    "CategoryHosts",
    "HostProposals",
    "ProposedHost",
    "covers",
    "propose_hosts",
]

#: Items that are requests to a host (what a Content-Security-Policy governs).
REQUEST_ITEMS = ("request", "beacon", "websocket")
#: Subdomains of one parent in one category before they are proposed as ``*.parent``.
COLLAPSE_AT = 3
#: Parents whose subdomains belong to different owners: never collapsed into a wildcard.
SHARED_PARENTS = frozenset(
    {
        "amazonaws.com", "appspot.com", "azureedge.net", "azurewebsites.net", "blogspot.com",
        "cloudfront.net", "firebaseapp.com", "github.io", "gitlab.io", "herokuapp.com",
        "netlify.app", "pages.dev", "vercel.app", "web.app", "workers.dev",
    }
)  # fmt: skip
DEFAULT_PORTS = frozenset({80, 443})
_SOURCE = re.compile(r"^(?P<wild>\*\.)?(?P<name>[^:]+)(?::(?P<port>\d+|\*))?$")

ALWAYS = " always"
NOT_PROPOSED_INVALID = "not a host name a policy can name"
NOT_PROPOSED_ALL_GRANTED = "seen only when every optional category was granted"
NOT_PROPOSED_SOME_UNDECIDED = "seen before consent, but not by every visitor"


@dataclass(frozen=True)
class ProposedHost:
    """One host source to add, and the host names it stands for."""

    source: str
    hosts: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"host": self.source, "seen": list(self.hosts)}


@dataclass
class CategoryHosts:
    """The hosts a category declares and those the scan proposes to add."""

    key: str
    declared: tuple[str, ...] = ()
    proposed: list[ProposedHost] = field(default_factory=list)

    def sources(self) -> list[str]:
        """Declared first, then proposed: what the category's ``hosts`` would be."""
        return [*self.declared, *(p.source for p in self.proposed)]


@dataclass
class HostProposals:
    """Every host proposal of one scan."""

    categories: list[CategoryHosts]
    always_declared: tuple[str, ...] = ()
    always_proposed: list[ProposedHost] = field(default_factory=list)
    #: Hosts every visitor reached that are classified in a non-necessary category.
    leaking: list[tuple[str, str]] = field(default_factory=list)
    #: Hosts that fit no proposal, with the reason.
    not_proposed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report's ``hosts`` section (``findings.schema.json``)."""
        return {
            "categories": [
                {
                    "key": c.key,
                    "declared": list(c.declared),
                    "proposed": [p.as_dict() for p in c.proposed],
                }
                for c in self.categories
            ],
            "csp_always_allow": {
                "declared": list(self.always_declared),
                "proposed": [p.as_dict() for p in self.always_proposed],
            },
            "not_proposed": [
                {"host": host, "reason": reason}
                for host, reason in [
                    *((h, f"seen by every visitor but classified {c}") for h, c in self.leaking),
                    *self.not_proposed,
                ]
            ],
        }

    @property
    def empty(self) -> bool:
        """Nothing declared and nothing proposed."""
        return not (
            any(c.declared or c.proposed for c in self.categories)
            or self.always_declared
            or self.always_proposed
        )


def _parse(source: str) -> tuple[bool, str, str | None]:
    match = _SOURCE.match(source.lower())
    if match is None:
        return False, source.lower(), None
    return bool(match["wild"]), match["name"], match["port"]


def covers(source: str, host: str, ports: Iterable[int] = ()) -> bool:
    """Whether the CSP host source ``source`` allows ``host`` on every one of ``ports``.

    A source without a port allows the scheme's default port (80 or 443), as in CSP.
    """
    wild, name, port = _parse(source)
    host = host.lower()
    if not (host.endswith("." + name) if wild else host == name):
        return False
    if port == "*":
        return True
    return all(p == int(port) if port is not None else p in DEFAULT_PORTS for p in ports)


def _valid(source: str) -> bool:
    from pydantic import ValidationError

    from consentkit.config import Category

    try:
        Category(key="check", label="check", hosts=[source])
    except ValidationError:
        return False
    return True


def _source(host: str, ports: frozenset[int]) -> str:
    odd = sorted(ports - DEFAULT_PORTS)
    if not odd:
        return host
    if len(odd) == 1 and not ports & DEFAULT_PORTS:
        return f"{host}:{odd[0]}"
    return f"{host}:*"


def _port_suffix(source: str) -> str:
    return source[source.index(":") :] if ":" in source else ""


def propose_hosts(
    result: ScanResult, classification: Callable[[str], Classification]
) -> HostProposals:
    """The host proposals of a scan; ``classification`` classifies a request host."""
    seen: dict[str, set[str]] = {}
    ports: dict[str, set[int]] = {}
    for state, bucket in result.states.items():
        for (item, name, _), sighting in bucket.items():
            if item in REQUEST_ITEMS:
                seen.setdefault(name, set()).add(state)
                ports.setdefault(name, set()).update(sighting.attributes.get("ports", ()))
    states = result.state_names()
    no_grant = {s for s in states if not result.granted(s)}
    full = {s for s in states if not s.endswith("_withdrawn")}
    optional = [c.key for c in result.categories if not c.required]
    only = {key: {s for s in states if result.granted(s) == frozenset({key})} for key in optional}

    found: dict[str, list[str]] = {c.key: [] for c in result.categories}
    always: list[str] = []
    proposals = HostProposals(
        [CategoryHosts(c.key, tuple(c.hosts)) for c in result.categories],
        tuple(result.csp_always_allow),
    )
    for host in sorted(seen):
        states_seen = seen[host]
        if not _valid(_source(host, frozenset(ports.get(host, ())))):
            proposals.not_proposed.append((host, NOT_PROPOSED_INVALID))
            continue
        if states_seen & no_grant:
            if full <= states_seen:
                always.append(host)
            else:
                proposals.not_proposed.append((host, NOT_PROPOSED_SOME_UNDECIDED))
            continue
        keys = [key for key in optional if states_seen & only[key]]
        if not keys:
            proposals.not_proposed.append((host, NOT_PROPOSED_ALL_GRANTED))
        for key in keys:
            found[key].append(host)

    def port_set(host: str) -> frozenset[int]:
        return frozenset(ports.get(host, ()))

    def declared_in(sources: Iterable[str], host: str) -> bool:
        return any(covers(s, host, port_set(host)) for s in sources)

    owners: dict[str, set[str]] = {}
    groups: list[tuple[str, Iterable[str]]] = [
        *found.items(),
        *((c.key, (_parse(s)[1] for s in c.declared)) for c in proposals.categories),
        (ALWAYS, always),
        (ALWAYS, (_parse(s)[1] for s in proposals.always_declared)),
        ("", (h for h, _ in proposals.not_proposed)),
    ]
    for owner, hosts in groups:
        for host in hosts:
            owners.setdefault(site_of(host), set()).add(owner)
    site = site_of(result.target.split("://", 1)[-1].split(":")[0])
    for category in proposals.categories:
        new = [h for h in found[category.key] if not declared_in(category.declared, h)]
        category.proposed = _collapse(new, category.key, port_set, owners, site)
    required = {c.key for c in result.categories if c.required}
    optional_sources = [
        s for c in proposals.categories if c.key not in required for s in c.declared
    ]
    new_always: list[str] = []
    for host in always:
        if declared_in(proposals.always_declared, host):
            continue
        kind = classification(host)
        if declared_in(optional_sources, host) or not (kind.necessary or kind.source == "unknown"):
            proposals.leaking.append((host, f"{kind.category} ({kind.source})"))
        else:
            new_always.append(host)
    proposals.always_proposed = _collapse(new_always, ALWAYS, port_set, owners, site)
    return proposals


def _collapse(
    hosts: list[str],
    owner: str,
    port_set: Callable[[str], frozenset[int]],
    owners: Mapping[str, set[str]],
    site: str,
) -> list[ProposedHost]:
    groups: dict[tuple[str, str], list[str]] = {}
    for host in hosts:
        key = (site_of(host), _port_suffix(_source(host, port_set(host))))
        groups.setdefault(key, []).append(host)
    proposed: list[ProposedHost] = []
    for (parent, port), members in groups.items():
        below = [h for h in members if h != parent]
        if (
            len(below) >= COLLAPSE_AT
            and "." in parent
            and not parent.replace(".", "").isdigit()
            and parent not in SHARED_PARENTS
            and parent != site
            and owners.get(parent) == {owner}
        ):
            if parent in members:
                proposed.append(ProposedHost(parent + port, (parent,)))
            proposed.append(ProposedHost(f"*.{parent}{port}", tuple(sorted(below))))
        else:
            proposed += [ProposedHost(_source(h, port_set(h)), (h,)) for h in members]
    return sorted(proposed, key=lambda p: (p.source.lstrip("*."), p.source))
