"""Classification: the declaration, framework cookies, the Open Cookie Database, unknown."""

from __future__ import annotations

from consentkit.scan.classify import (
    Classifier,
    DeclaredCategory,
    load_open_cookie_database,
    same_site,
    site_of,
)

SITE = "www.example.org"
DECLARED = [
    DeclaredCategory("necessary", "Necessary", True, ("consentkit",)),
    DeclaredCategory("analytics", "Analytics", False, ("stats_*", "_ga")),
    DeclaredCategory("marketing", "Marketing", False, ("stats_ads",)),
]


def classifier() -> Classifier:
    return Classifier(DECLARED, SITE)


def test_the_shipped_database_loads() -> None:
    rows = load_open_cookie_database()
    assert len(rows) > 2000
    ga = [r for r in rows if r.name == "_ga"]
    assert ga and ga[0].category == "analytics" and ga[0].platform == "Google Analytics"


def test_declaration_comes_first_exact_then_longest_prefix() -> None:
    c = classifier()
    ga = c.classify_name("_ga", "example.org")
    assert (ga.category, ga.source, ga.confidence, ga.necessary) == (
        "analytics", "declaration", "high", False
    )  # fmt: skip
    assert c.classify_name("stats_ads", SITE).category == "marketing"  # exact beats prefix
    prefixed = c.classify_name("stats_1", SITE)
    assert (prefixed.category, prefixed.detail) == ("analytics", "stats_*")
    assert c.classify_name("consentkit", SITE).necessary


def test_framework_cookies_are_necessary_first_party_only() -> None:
    c = classifier()
    for name in ("sessionid", "csrftoken", "PHPSESSID", "laravel_session", "XSRF-TOKEN",
                 "ASP.NET_SessionId", ".AspNetCore.Antiforgery.x1Y", "_myapp_session",
                 "session", "JSESSIONID"):  # fmt: skip
        found = c.classify_name(name, "example.org")
        assert (found.source, found.necessary, found.category) == (
            "framework", True, "necessary"
        ), name  # fmt: skip
    # On Instagram's own domain, ``sessionid`` is Instagram's: the database, domain agreeing.
    instagram = c.classify_name("sessionid", ".instagram.com")
    assert instagram.source == "open-cookie-database" and instagram.confidence == "high"
    assert not instagram.necessary


def test_database_exact_names_and_long_prefixes() -> None:
    c = classifier()
    fbp = c.classify_name("_fbp", "example.org")
    assert fbp.source == "open-cookie-database" and fbp.category == "marketing"
    ga4 = c.classify_name("_ga_ABC123", "example.org")  # `_ga_` prefix, no domain listed
    assert (ga4.category, ga4.confidence) == ("analytics", "medium")


def test_short_prefixes_and_generic_names_need_an_agreeing_domain() -> None:
    c = classifier()
    # adform's `CT` wildcard must not claim a first-party `CTX_state`...
    assert c.classify_name("CTX_state", "example.org").source == "unknown"
    # ...but does on adform's own domain.
    adform = c.classify_name("CTX_state", "track.adform.net")
    assert adform.source == "open-cookie-database" and adform.confidence == "high"
    # A generic name the database lists for one platform is not guessed elsewhere.
    assert c.classify_name("token", "cdn.other.example").source == "unknown"


def test_unknown_is_never_guessed() -> None:
    found = classifier().classify_name("zq_weird_thing", "example.org")
    assert (found.category, found.source, found.confidence) == ("unknown", "unknown", "none")


def test_hosts_by_database_domain() -> None:
    c = classifier()
    host = c.classify_host("region1.google-analytics.com")
    assert host.source == "open-cookie-database" and host.category == "analytics"
    assert c.classify_host("tracker.test").source == "unknown"


def test_sites() -> None:
    assert site_of("a.b.example.org") == "example.org"
    assert site_of("shop.example.co.uk") == "example.co.uk"
    assert site_of("127.0.0.1") == "127.0.0.1"
    assert same_site("static.example.org", "www.example.org")
    assert not same_site("tracker.test", "127.0.0.1")
