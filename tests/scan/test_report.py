"""Findings drawn from what the browsers saw, the table, and the draft declaration."""

from __future__ import annotations

import io
from typing import Any

from consentkit.scan.browser import Sighting
from consentkit.scan.classify import DeclaredCategory
from consentkit.scan.crawl import CrawlResult
from consentkit.scan.report import build_report, draft_declaration, write_table
from consentkit.scan.runner import ScanResult, visitors_for

CATEGORIES = [
    DeclaredCategory("necessary", "Necessary", True, ("consentkit", "session")),
    DeclaredCategory("analytics", "Analytics", False, ("_ga", "stats_*")),
    DeclaredCategory("marketing", "Marketing", False, ("ads", "never_set")),
]


def result(
    seen: dict[str, list[tuple[str, str, str, bool]]],
    before_choice: frozenset[str] = frozenset(),
) -> ScanResult:
    """A scan result from ``{state: [(item, name, domain, present), ...]}``."""
    states: dict[str, dict[tuple[str, str, str], Sighting]] = {}
    for state, sightings in seen.items():
        bucket = states.setdefault(state, {})
        for item, name, domain, present in sightings:
            bucket[(item, name, domain)] = Sighting(
                item, name, domain, {"/"}, set(), {"test"}, present, {"lifetime": None}
            )
    return ScanResult(
        target="http://site.example",
        pages=["/"],
        categories=CATEGORIES,
        declaration_source="config",
        visitors=visitors_for(CATEGORIES, before_choice),
        states=states,
        crawl=CrawlResult(pages=["http://site.example/"]),
    )


def kinds(report: Any) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for f in report.findings:
        found.setdefault((f.kind, f.name), set()).update(f.visitors)
    return found


def cookie(
    name: str, domain: str = "site.example", present: bool = True
) -> tuple[str, str, str, bool]:
    return ("cookie", name, domain, present)


def test_granted_cookies_are_fine_and_the_rest_leaks() -> None:
    report = build_report(result({
        "undecided": [cookie("session")],
        "accept_all": [cookie("session"), cookie("_ga"), cookie("ads"), cookie("consentkit")],
        "only_analytics": [cookie("_ga"), cookie("stats_x"), cookie("ads")],
        "only_marketing": [cookie("ads")],
    }))  # fmt: skip
    found = kinds(report)
    assert found[("leak", "ads")] == {"only_analytics"}
    assert ("leak", "_ga") not in found and ("leak", "session") not in found
    assert not report.ok and report.exit_status == 1


def test_unknown_items_leak_unless_everything_is_granted() -> None:
    report = build_report(result({
        "accept_all": [("request", "cdn.other", "cdn.other", False)],
        "only_analytics": [("request", "cdn.other", "cdn.other", False)],
    }))  # fmt: skip
    assert kinds(report)[("leak", "cdn.other")] == {"only_analytics"}
    allowed = build_report(
        result({"undecided": [("request", "cdn.other", "cdn.other", False)]}),
        allow_hosts=["cdn.other"],
    )
    assert not [f for f in allowed.findings if f.kind == "leak"]


def test_not_removed_after_withdrawal_only_when_still_present() -> None:
    report = build_report(result({
        "withdrawal_accepted": [cookie("_ga"), cookie("stats_a")],
        "withdrawal_withdrawn": [cookie("_ga", present=False), cookie("stats_a")],
    }))  # fmt: skip
    found = kinds(report)
    assert found[("not_removed", "stats_a")] == {"withdrawal_withdrawn"}
    assert ("not_removed", "_ga") not in found


def test_undeclared_stale_and_misfiled() -> None:
    report = build_report(
        result({
            "undecided": [("local_storage", "widget", "http://site.example", True)],
            "accept_all": [cookie("_ga"), cookie("ads"), cookie("_fbp")],
            "only_analytics": [cookie("_ga"), cookie("ads")],
            "only_marketing": [],
        }),
        fail_on=["stale"],
    )  # fmt: skip
    found = kinds(report)
    assert ("undeclared", "widget") in found and ("undeclared", "_fbp") in found
    fbp = next(f for f in report.findings if f.name == "_fbp" and f.kind == "undeclared")
    assert fbp.category == "marketing" and fbp.classification.source == "open-cookie-database"
    assert found[("misfiled", "ads")] == {"only_analytics"}
    assert ("misfiled", "_ga") not in found
    assert ("stale", "never_set") in found and ("stale", "stats_*") in found
    assert ("stale", "_ga") not in found
    assert "stale" in report.fail_on and not report.ok


def test_clean_report_and_table() -> None:
    report = build_report(result({"undecided": [cookie("session")], "accept_all": [
        cookie("session"), cookie("_ga"), cookie("ads"), cookie("consentkit"), cookie("stats_1"),
        cookie("never_set")]}))  # fmt: skip
    assert report.ok and report.exit_status == 0 and report.findings == []
    out = io.StringIO()
    write_table(report, out)
    text = out.getvalue()
    assert "Leaks: set or sent without consent to their category:\n  none" in text
    assert "Result: no leak (exit 0)." in text


def test_draft_declaration_is_valid_python_that_builds_categories() -> None:
    report = build_report(result({
        "undecided": [cookie("session"), ("local_storage", "widget", "http://site.example", True),
                      cookie("tk", "tracker.example")],
        "accept_all": [cookie("_ga"), cookie("_fbp"), cookie("sessionid")],
    }))  # fmt: skip
    source = draft_declaration(report)
    namespace: dict[str, Any] = {}
    exec(compile(source, "declaration.py", "exec"), namespace)
    categories = {c.key: c for c in namespace["categories"]}
    assert {c.name for c in categories["necessary"].cookies} == {"session", "sessionid"}
    assert categories["necessary"].required
    assert [c.name for c in categories["marketing"].cookies] == ["_fbp"]
    assert "#   localStorage 'widget' on http://site.example" in source
    assert "#   cookie 'tk' on tracker.example" in source


def test_table_shows_no_control_characters() -> None:
    report = build_report(result({"undecided": [cookie("evil\x1b[2J\nname")]}))
    out = io.StringIO()
    write_table(report, out)
    assert "\x1b" not in out.getvalue() and "evil?[2J?name" in out.getvalue()


def test_what_the_regime_runs_before_a_choice_is_no_leak_for_the_undecided() -> None:
    seen = {
        "undecided": [cookie("_ga"), cookie("ads")],
        "reject_all": [cookie("ads")],
        "accept_all": [cookie("_ga"), cookie("ads")],
    }
    # opt_in: nothing optional before a choice.
    assert kinds(build_report(result(seen)))[("leak", "ads")] == {"undecided", "reject_all"}
    # us_opt_out (the site runs everything until the visitor opts out): only the refusal leaks.
    report = build_report(result(seen, frozenset({"analytics", "marketing"})))
    assert kinds(report)[("leak", "ads")] == {"reject_all"}
    assert ("leak", "_ga") not in kinds(report)
    undecided = next(v for v in report.as_dict()["visitors"] if v["name"] == "undecided")
    assert "runs analytics, marketing until then" in undecided["description"]


def test_default_grants_follow_the_default_rule() -> None:
    from consentkit import Category, ConsentConfig, Region
    from consentkit.scan.runner import default_grants

    def config(*regions: Region) -> ConsentConfig:
        return ConsentConfig(
            secret_keys=["s" * 32],
            categories=[
                Category(key="necessary", label="N", required=True),
                Category(key="ads", label="Ads", sale_or_share=True),
            ],
            regions=list(regions),
        )

    assert default_grants(config()) == frozenset()
    assert default_grants(config(Region(match=["*"], regime="opt_in"))) == frozenset()
    assert default_grants(config(Region(match=["*"], regime="us_opt_out"))) == {"ads"}
    assert default_grants(config(Region(match=["*"], regime="notice"))) == {"ads"}
