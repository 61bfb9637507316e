"""Proposing ``Category.hosts`` and ``csp_always_allow`` from what each visitor reached."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from consentkit import ConsentConfig
from consentkit.findings import schema
from consentkit.scan.browser import Sighting
from consentkit.scan.classify import DeclaredCategory
from consentkit.scan.crawl import CrawlResult
from consentkit.scan.hosts import covers
from consentkit.scan.html_report import render_html
from consentkit.scan.report import ScanReport, build_report, draft_declaration, write_table
from consentkit.scan.runner import ScanResult, visitors_for

CATEGORIES = [
    DeclaredCategory("necessary", "Necessary", True, ("consentkit",)),
    DeclaredCategory("analytics", "Analytics", False, ("_ga",)),
    DeclaredCategory("marketing", "Marketing", False, ("ads",)),
]
FULL = ["undecided", "reject_all", "accept_all", "only_analytics", "only_marketing",
        "withdrawal_accepted"]  # fmt: skip


def result(
    seen: dict[str, Iterable[tuple[str, int] | str]],
    categories: Sequence[DeclaredCategory] = CATEGORIES,
    always: Sequence[str] = (),
    item: str = "request",
) -> ScanResult:
    """A scan from ``{host: [state or (state, port), ...]}``, filed as the recorder does."""
    states: dict[str, dict[tuple[str, str, str], Sighting]] = {}
    for host, where in seen.items():
        for entry in where:
            state, port = entry if isinstance(entry, tuple) else (entry, 443)
            sighting = states.setdefault(state, {}).setdefault(
                (item, host, host), Sighting(item, host, host, {"/"}, set(), {"test"})
            )
            sighting.attributes.setdefault("ports", set()).add(port)
    return ScanResult(
        target="https://site.example",
        pages=["/"],
        categories=list(categories),
        declaration_source="config",
        visitors=visitors_for(categories),
        states=states,
        crawl=CrawlResult(pages=["https://site.example/"]),
        csp_always_allow=tuple(always),
    )


def proposed(report: ScanReport) -> dict[str, list[str]]:
    section = report.as_dict()["hosts"]
    found = {c["key"]: [p["host"] for p in c["proposed"]] for c in section["categories"]}
    found["always"] = [p["host"] for p in section["csp_always_allow"]["proposed"]]
    return {k: v for k, v in found.items() if v}


def not_proposed(report: ScanReport) -> dict[str, str]:
    return {n["host"]: n["reason"] for n in report.as_dict()["hosts"]["not_proposed"]}


def test_a_host_goes_to_the_category_whose_visitor_alone_reached_it() -> None:
    report = build_report(result({
        "stats.example.net": ["accept_all", "only_analytics", "withdrawal_accepted"],
        "video.example.org": ["accept_all", "only_marketing"],
        "tags.example.com": ["accept_all", "only_analytics", "only_marketing"],
        "cdn.example.com": FULL,
        "banner.example.com": ["undecided"],
        "combo.example.com": ["accept_all"],
    }))  # fmt: skip
    assert proposed(report) == {
        "analytics": ["stats.example.net", "tags.example.com"],
        "marketing": ["tags.example.com", "video.example.org"],
        "always": ["cdn.example.com"],
    }
    assert not_proposed(report) == {
        "banner.example.com": "seen before consent, but not by every visitor",
        "combo.example.com": "seen only when every optional category was granted",
    }


def test_a_host_seen_by_a_visitor_who_granted_nothing_is_never_a_category_host() -> None:
    for refusing in ("undecided", "reject_all", "withdrawal_withdrawn"):
        report = build_report(result({"x.example.net": ["only_analytics", refusing]}))
        assert "analytics" not in proposed(report), refusing
        assert "x.example.net" in not_proposed(report)


def test_one_optional_category_takes_what_accept_all_reached() -> None:
    categories = CATEGORIES[:2]
    report = build_report(result({"stats.example.net": ["accept_all"]}, categories))
    assert proposed(report) == {"analytics": ["stats.example.net"]}


def test_declared_hosts_are_kept_and_not_proposed_again() -> None:
    categories = [
        CATEGORIES[0],
        DeclaredCategory("analytics", "Analytics", False, ("_ga",), ("*.stats.example.net",)),
        DeclaredCategory("marketing", "Marketing", False, ("ads",), ("video.example.org:8443",)),
    ]
    report = build_report(
        result(
            {
                "a.stats.example.net": ["only_analytics"],
                "stats.example.net": ["only_analytics"],  # '*.' does not allow the parent
                "video.example.org": [("only_marketing", 8443)],
                "other.example.org": ["only_marketing"],
                "cdn.example.com": FULL,
                "fonts.example.com": FULL,
            },
            categories,
            always=["cdn.example.com"],
        )
    )
    section = report.as_dict()["hosts"]
    by_key = {c["key"]: c for c in section["categories"]}
    assert by_key["analytics"]["declared"] == ["*.stats.example.net"]
    assert by_key["marketing"]["declared"] == ["video.example.org:8443"]
    assert section["csp_always_allow"]["declared"] == ["cdn.example.com"]
    assert proposed(report) == {
        "analytics": ["stats.example.net"],
        "marketing": ["other.example.org"],
        "always": ["fonts.example.com"],
    }
    draft = draft_declaration(report)
    assert draft.count("'*.stats.example.net'") == 1 and draft.count("'cdn.example.com'") == 1


def test_ports_other_than_80_and_443_are_kept() -> None:
    report = build_report(result({
        "one.example.net": [("only_analytics", 8080)],
        "two.example.net": [("only_analytics", 8080), ("accept_all", 9090)],
        "mixed.example.net": [("only_analytics", 443), ("accept_all", 8443)],
        "plain.example.net": [("only_analytics", 80), ("accept_all", 443)],
    }))  # fmt: skip
    assert proposed(report)["analytics"] == [
        "mixed.example.net:*", "one.example.net:8080", "plain.example.net", "two.example.net:*"
    ]  # fmt: skip


def test_many_subdomains_of_one_parent_become_a_wildcard() -> None:
    video = {f"r{i}.videos.example": ["only_marketing"] for i in range(1, 4)}
    report = build_report(result({**video, "videos.example": ["only_marketing"],
                                  "a.pair.example": ["only_marketing"],
                                  "b.pair.example": ["only_marketing"]}))  # fmt: skip
    assert proposed(report)["marketing"] == [
        "a.pair.example", "b.pair.example", "*.videos.example", "videos.example"
    ]  # fmt: skip
    section = report.as_dict()["hosts"]
    marketing = next(c for c in section["categories"] if c["key"] == "marketing")
    wildcard = next(p for p in marketing["proposed"] if p["host"] == "*.videos.example")
    assert wildcard["seen"] == ["r1.videos.example", "r2.videos.example", "r3.videos.example"]


@pytest.mark.parametrize(
    ("other", "why"),
    [
        ({"r9.videos.example": ["only_analytics"]}, "the parent also serves another category"),
        ({"r9.videos.example": FULL}, "the parent also serves every visitor"),
        ({"r9.videos.example": ["undecided"]}, "the parent is also reached before consent"),
    ],
)
def test_no_wildcard_when_the_parent_is_shared(other: dict[str, list[str]], why: str) -> None:
    video = {f"r{i}.videos.example": ["only_marketing"] for i in range(1, 4)}
    report = build_report(result({**video, **other}))
    assert "*.videos.example" not in proposed(report)["marketing"], why
    assert len(proposed(report)["marketing"]) == 3


def test_no_wildcard_over_shared_hosting_the_scanned_site_or_a_declared_host() -> None:
    hosted = {f"c{i}.cloudfront.net": ["only_marketing"] for i in range(4)}
    own = {f"s{i}.site.example": ["only_marketing"] for i in range(4)}
    report = build_report(result({**hosted, **own}))
    assert not [h for h in proposed(report)["marketing"] if h.startswith("*.")]
    categories = [*CATEGORIES[:2], DeclaredCategory("marketing", "M", False, (),
                                                      ("x.videos.example",))]  # fmt: skip
    video = {f"r{i}.videos.example": ["only_analytics"] for i in range(1, 4)}
    report = build_report(result(video, categories))
    assert len(proposed(report)["analytics"]) == 3  # marketing declares a host under it


def test_always_allow_candidates_exclude_what_is_classified_or_declared_elsewhere() -> None:
    categories = [*CATEGORIES[:2], DeclaredCategory("marketing", "M", False, (),
                                                      ("px.ads.example",))]  # fmt: skip
    report = build_report(
        result({
            "www.google-analytics.com": FULL,
            "px.ads.example": FULL,
            "cdn.example.com": FULL,
            "api.partner.example": FULL,
        }, categories),
        allow_hosts=["partner.example"],
    )  # fmt: skip
    assert proposed(report) == {"always": ["api.partner.example", "cdn.example.com"]}
    reasons = not_proposed(report)
    assert reasons["www.google-analytics.com"] == (
        "seen by every visitor but classified analytics (open-cookie-database)"
    )
    assert reasons["px.ads.example"] == (
        "seen by every visitor but classified marketing (declaration)"
    )


def test_requests_to_declared_hosts_are_classified_by_the_declaration() -> None:
    categories = [*CATEGORIES[:2], DeclaredCategory("marketing", "M", False, (),
                                                      ("*.videos.example:*",))]  # fmt: skip
    report = build_report(result({"r1.videos.example": ["only_analytics", "only_marketing"]},
                                 categories))  # fmt: skip
    leak = next(f for f in report.findings if f.kind == "leak")
    assert (leak.name, leak.category, leak.visitors) == (
        "r1.videos.example", "marketing", ["only_analytics"]
    )  # fmt: skip
    assert leak.classification.source == "declaration"
    assert leak.classification.detail == "*.videos.example:*"


def test_hosts_no_policy_can_name_are_not_proposed() -> None:
    report = build_report(result({"under_score.example.net": ["only_analytics"],
                                  "fe80::1": ["only_analytics"]}))  # fmt: skip
    assert "analytics" not in proposed(report)
    assert set(not_proposed(report).values()) == {"not a host name a policy can name"}


def test_beacons_and_websockets_count_like_requests() -> None:
    for item in ("beacon", "websocket"):
        report = build_report(result({"live.example.net": ["only_marketing"]}, item=item))
        assert proposed(report) == {"marketing": ["live.example.net"]}


def test_covers() -> None:
    assert covers("a.example", "a.example", [443, 80])
    assert not covers("a.example", "a.example", [8080])
    assert not covers("a.example", "b.a.example")
    assert covers("*.a.example", "b.a.example") and covers("*.a.example", "c.b.a.example")
    assert not covers("*.a.example", "a.example")
    assert covers("a.example:8080", "a.example", [8080])
    assert not covers("a.example:8080", "a.example", [8080, 443])
    assert covers("*.a.example:*", "b.a.example", [1, 2])


def test_draft_builds_a_consent_config_with_the_hosts() -> None:
    categories = [
        CATEGORIES[0],
        DeclaredCategory("analytics", "Analytics", False, ("_ga",), ("stats.example.net",)),
        CATEGORIES[2],
    ]
    video = {f"r{i}.videos.example": [("only_marketing", 8443)] for i in range(3)}
    report = build_report(result({
        **video,
        "stats.example.net": ["only_analytics"],
        "cdn.example.com": FULL,
        "www.google-analytics.com": FULL,
        "banner.example.com": ["undecided"],
    }, categories))  # fmt: skip
    source = draft_declaration(report)
    namespace: dict[str, Any] = {}
    exec(compile(source, "declaration.py", "exec"), namespace)
    config = ConsentConfig(
        secret_keys=["k" * 32],
        categories=namespace["categories"],
        csp_always_allow=namespace["csp_always_allow"],
        csp="enforce",
    )
    hosts = {c.key: c.hosts for c in config.categories}
    assert hosts["analytics"] == ("stats.example.net",)
    assert hosts["marketing"] == ("*.videos.example:8443",)
    assert config.csp_always_allow == ("cdn.example.com",)
    assert "'stats.example.net',  # declared" in source
    assert "# seen only when marketing was granted (r0.videos.example, " in source
    assert "#   'www.google-analytics.com': analytics (open-cookie-database)" in source
    assert "#   'banner.example.com': seen before consent, but not by every visitor" in source


def test_report_json_and_table_show_the_hosts() -> None:
    import jsonschema

    report = build_report(result({"stats.example.net": ["only_analytics"],
                                  "cdn.example.com": FULL}))  # fmt: skip
    document = report.as_dict()
    jsonschema.Draft202012Validator(schema()).validate(document)
    analytics = next(c for c in document["hosts"]["categories"] if c["key"] == "analytics")
    assert analytics == {
        "key": "analytics",
        "declared": [],
        "proposed": [{"host": "stats.example.net", "seen": ["stats.example.net"]}],
    }
    out = io.StringIO()
    write_table(report, out)
    text = out.getvalue()
    assert "Hosts for the consent-aware CSP (Category.hosts, csp_always_allow):" in text
    assert "analytics         stats.example.net  proposed" in text
    assert "csp_always_allow  cdn.example.com    proposed" in text
    html = render_html(report)
    assert "<h2>Hosts for the consent-aware CSP (Category.hosts, csp_always_allow)</h2>" in html
    assert "<td>analytics</td><td><code>stats.example.net</code></td><td>proposed</td>" in html


def test_a_scan_without_third_parties_proposes_nothing() -> None:
    report = build_report(result({}))
    assert report.hosts.empty and proposed(report) == {}
    out = io.StringIO()
    write_table(report, out)
    assert "Hosts for the consent-aware CSP" not in out.getvalue()
    assert "csp_always_allow" not in draft_declaration(report)
