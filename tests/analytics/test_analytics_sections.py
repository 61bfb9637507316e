"""Path rules: prefixes, globs, first match wins, first segment otherwise, exclusions."""

from __future__ import annotations

import pytest

from consentkit.analytics.sections import PathRule, SectionMap, default_section


@pytest.mark.parametrize(
    ("rule", "path", "expected"),
    [
        ("/reports", "/reports", True),
        ("/reports", "/reports/2024/annual", True),
        ("/reports", "/reportsx", False),
        ("/reports/", "/reports", True),
        ("/reports/*/annex", "/reports/2024/annex", True),
        ("/reports/*/annex", "/reports/2024/annex/b", True),
        ("/reports/*/annex", "/reports/2024/x/annex", False),
        ("/reports/**/annex", "/reports/2024/x/annex", True),
        ("/news/202?", "/news/2024", True),
        ("/news/202?", "/news/20245", False),
        ("/a/[bc]", "/a/c", True),
        ("/", "/anything", True),
    ],
)
def test_rule_matches(rule: str, path: str, expected: bool) -> None:
    assert PathRule(rule).matches(path) is expected


def test_default_section_is_first_segment() -> None:
    assert default_section("/") == "home"
    assert default_section("") == "home"
    assert default_section("/about") == "about"
    assert default_section("/about/team/") == "about"


def test_first_match_wins_and_exclusions() -> None:
    sections = SectionMap(
        [("/reports/*/annex", "Annexes"), ("/reports", "Reports"), ("/news", "News")],
        exclude=["/admin", "/reports/*/draft"],
    )
    assert sections.section("/reports/2024/annex") == "Annexes"
    assert sections.section("/reports/2024") == "Reports"
    assert sections.section("/news") == "News"
    assert sections.section("/about/us") == "about"
    assert sections.section("/") == "home"
    assert sections.section("/admin/users") is None
    assert sections.section("/reports/2024/draft") is None
