"""The consent policy: per consent state, host validation, the site's own policy, header size."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from csp_helpers import SITE_CSP, csp_categories, csp_site
from pydantic import ValidationError
from starlette.testclient import TestClient

from consentkit import Category, ConsentConfig, ConsentMiddleware
from consentkit.consent import Consent
from consentkit.csp.policy import MAX_HEADER_BYTES, ConsentPolicy, longest_policy, state_label

ConfigFactory = Callable[..., ConsentConfig]
UNDECIDED = Consent(decided=False, granted=frozenset({"necessary"}))
REJECTED = Consent(decided=True, granted=frozenset({"necessary"}))
ANALYTICS = Consent(decided=True, granted=frozenset({"necessary", "analytics"}))
EVERYTHING = Consent(decided=True, granted=frozenset({"necessary", "analytics", "marketing"}))
ANALYTICS_HOSTS = {"www.googletagmanager.com", "*.google-analytics.com"}
MARKETING_HOSTS = {"www.youtube.com", "*.ytimg.com", "*.googlevideo.com"}
BASE_HOSTS = {"fonts.example.org", "cdn.example.net"}


def directives(policy: str) -> dict[str, list[str]]:
    """``{"script-src": [sources...], ...}`` of a policy text."""
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} appears twice"
        parsed[name] = sources
    return parsed


def hosts_in(policy: str, directive: str = "script-src") -> set[str]:
    return {s for s in directives(policy)[directive] if not s.startswith("'") and s[-1] != ":"}


@pytest.mark.parametrize(
    ("consent", "allowed", "state"),
    [
        (UNDECIDED, BASE_HOSTS, "undecided"),
        (REJECTED, BASE_HOSTS, "none"),
        (ANALYTICS, BASE_HOSTS | ANALYTICS_HOSTS, "analytics"),
        (EVERYTHING, BASE_HOSTS | ANALYTICS_HOSTS | MARKETING_HOSTS, "analytics.marketing"),
    ],
)
def test_policy_per_consent_state(
    csp_config: ConfigFactory, consent: Consent, allowed: set[str], state: str
) -> None:
    policy = ConsentPolicy(csp_config(), csp_categories())
    text = policy.policy(consent)
    parsed = directives(text)
    governed = ["script-src", "connect-src", "img-src", "frame-src", "media-src", "style-src"]
    for name in [*governed, "font-src"]:
        assert hosts_in(text, name) == allowed, name
        assert "'self'" in parsed[name]
    assert "'unsafe-inline'" in parsed["script-src"] and "'unsafe-eval'" in parsed["script-src"]
    assert "'unsafe-inline'" in parsed["style-src"]
    assert "'unsafe-inline'" not in parsed["img-src"]
    assert "default-src" not in parsed  # ungoverned directives stay the site's business
    assert parsed["report-uri"] == [f"/consent/csp-report?state={state}"]
    assert parsed["report-to"] == ["consentkit-csp"]
    headers = dict(policy.headers(consent))
    assert headers[b"reporting-endpoints"] == (
        f'consentkit-csp="/consent/csp-report?state={state}"'.encode()
    )
    assert state_label(consent.decided, consent.granted, ["analytics", "marketing"]) == state


def test_headers_are_built_once_per_state(csp_config: ConfigFactory) -> None:
    policy = ConsentPolicy(csp_config(), csp_categories())
    first = policy.headers(ANALYTICS)
    again = policy.headers(Consent(decided=True, granted=frozenset({"analytics", "necessary"})))
    assert again is first
    assert policy.headers(UNDECIDED) is policy.headers(UNDECIDED)
    assert policy.headers(REJECTED) is not policy.headers(UNDECIDED)


def test_enforce_mode_and_no_reports(csp_config: ConfigFactory) -> None:
    policy = ConsentPolicy(csp_config(csp="enforce", csp_reports=False), csp_categories())
    headers = policy.headers(REJECTED)
    assert [name for name, _ in headers] == [b"content-security-policy"]
    assert "report-uri" not in headers[0][1].decode()
    assert "report-to" not in headers[0][1].decode()


def test_governed_directives_are_configurable(csp_config: ConfigFactory) -> None:
    config = csp_config(csp_directives=["script-src", "frame-src", "worker-src", "script-src"])
    text = ConsentPolicy(config, csp_categories()).policy(REJECTED)
    assert list(directives(text)) == [
        "script-src", "frame-src", "worker-src", "report-uri", "report-to",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("*", "not a host name"),
        ("*.com", "whole top-level domain"),
        ("https://www.youtube.com", "is a URL"),
        ("www.youtube.com/embed", "is a URL"),
        ("bücher.example", "punycode"),
        ("a..example.com", "not a host name"),
        ("-bad.example.com", "not a host name"),
        ("bad-.example.com", "not a host name"),
        ("example.*", "not a host name"),
        ("a.*.example.com", "not a host name"),
        ("cdn.example.com:70000", "valid port"),
        ("cdn.example.com:0", "valid port"),
        ("'self'", "not a host name"),
        ("cdn.example.com; script-src *", "not a host name"),
        ("", "not a host name"),
        ("a" * 64 + ".example.com", "not a host name"),
    ],
)
def test_bad_hosts_are_refused_at_start_up(host: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Category(key="marketing", label="Marketing", hosts=[host])
    with pytest.raises(ValidationError, match=message):
        ConsentConfig(secret_keys=["k" * 40], categories=csp_categories(), csp_always_allow=[host])


def test_good_hosts_are_normalised() -> None:
    category = Category(
        key="video",
        label="Video",
        hosts=["WWW.YouTube.com", "*.ytimg.com", "www.youtube.com", "cdn.example.com:8443",
               "*.example.org:*", "xn--bcher-kva.example", "203.0.113.5"],
    )  # fmt: skip
    assert category.hosts == (
        "www.youtube.com", "*.ytimg.com", "cdn.example.com:8443", "*.example.org:*",
        "xn--bcher-kva.example", "203.0.113.5",
    )  # fmt: skip


def test_other_csp_settings_are_checked(csp_config: ConfigFactory) -> None:
    with pytest.raises(ValidationError, match="csp_always_allow and in category 'analytics'"):
        csp_config(csp_always_allow=["www.googletagmanager.com"])
    with pytest.raises(ValidationError, match="not a fetch directive"):
        csp_config(csp_directives=["script-src", "frame-ancestors"])
    with pytest.raises(ValidationError, match="at least one directive"):
        csp_config(csp_directives=[])
    with pytest.raises(ValidationError, match="csp"):
        csp_config(csp="block")
    with pytest.raises(ValidationError, match="csp_report_rate"):
        csp_config(csp_report_rate=0)
    clashing = [*csp_categories(), Category(key="none", label="None")]
    with pytest.raises(ValidationError, match="'none' is a consent state name"):
        csp_config(categories=clashing)
    assert csp_config(categories=clashing, csp="off").csp == "off"


def test_header_size(csp_config: ConfigFactory) -> None:
    config = csp_config()
    policy = ConsentPolicy(config, csp_categories())
    biggest = len(dict(policy.headers(EVERYTHING))[b"content-security-policy-report-only"])
    assert biggest == longest_policy(config)
    assert biggest < 2048  # the example site: seven directives, eight hosts
    many = [f"host{i:03d}.example-analytics-provider.com" for i in range(40)]
    big = [*csp_categories()[:2], Category(key="marketing", label="Marketing", hosts=many)]
    with pytest.raises(ValidationError, match=f"keep it under {MAX_HEADER_BYTES}"):
        csp_config(categories=big)
    assert csp_config(categories=big, csp="off").csp == "off"  # only checked when it is sent


def test_html_gets_the_policy_other_responses_do_not(csp_config: ConfigFactory) -> None:
    app = ConsentMiddleware(csp_site(), config=csp_config())
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/")
        assert "content-security-policy" not in page.headers
        policy = page.headers["content-security-policy-report-only"]
        assert hosts_in(policy) == BASE_HOSTS
        assert "report-to consentkit-csp" in policy
        assert page.headers["reporting-endpoints"] == (
            'consentkit-csp="/consent/csp-report?state=undecided"'
        )
        data = client.get("/data")
        assert "content-security-policy-report-only" not in data.headers
        assert "reporting-endpoints" not in data.headers


def test_plain_http_reports_with_report_uri_only(csp_config: ConfigFactory) -> None:
    """Chromium posts Reporting API reports to https endpoints only, and skips report-uri
    when report-to is there: over http the policy names report-uri alone."""
    with TestClient(ConsentMiddleware(csp_site(), config=csp_config())) as client:
        page = client.get("/")
    policy = directives(page.headers["content-security-policy-report-only"])
    assert policy["report-uri"] == ["/consent/csp-report?state=undecided"]
    assert "report-to" not in policy
    assert "reporting-endpoints" not in page.headers


def test_https_behind_a_trusted_proxy(csp_config: ConfigFactory) -> None:
    config = csp_config(trusted_proxies=["127.0.0.1"])
    scope_client = ("127.0.0.1", 5000)
    app = ConsentMiddleware(csp_site(), config=config)
    with TestClient(app, client=scope_client) as client:
        page = client.get("/", headers={"x-forwarded-proto": "https"})
    assert "report-to consentkit-csp" in page.headers["content-security-policy-report-only"]
    assert "reporting-endpoints" in page.headers


def test_off_by_default(csp_config: ConfigFactory) -> None:
    with TestClient(ConsentMiddleware(csp_site(), config=csp_config(csp="off"))) as client:
        page = client.get("/")
        assert not [h for h in page.headers if "security-policy" in h or h.startswith("report")]
        assert client.post("/consent/csp-report", content=b"{}").status_code in (404, 405)


@pytest.mark.parametrize("mode", ["enforce", "report-only"])
def test_site_policy_is_kept_and_ours_is_a_second_header(
    csp_config: ConfigFactory, mode: str
) -> None:
    with TestClient(ConsentMiddleware(csp_site(), config=csp_config(csp=mode))) as client:
        page = client.get("/strict")
        enforced = page.headers.get_list("content-security-policy")
        assert enforced[0] == SITE_CSP
        if mode == "enforce":
            assert len(enforced) == 2
            assert hosts_in(enforced[1]) == BASE_HOSTS
        else:
            assert enforced == [SITE_CSP]
            assert hosts_in(page.headers["content-security-policy-report-only"]) == BASE_HOSTS


def test_grant_then_withdraw_changes_the_next_page(csp_config: ConfigFactory) -> None:
    """Plain HTML forms, no JavaScript: the policy follows the consent cookie."""
    app = ConsentMiddleware(csp_site(), config=csp_config(csp="enforce"))
    with TestClient(app, base_url="http://testserver") as client:
        assert hosts_in(client.get("/").headers["content-security-policy"]) == BASE_HOSTS
        answer = client.post(
            "/consent",
            data={"action": "custom", "category": "marketing", "next": "/"},
            headers={"origin": "http://testserver"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        policy = client.get("/").headers["content-security-policy"]
        assert hosts_in(policy) == BASE_HOSTS | MARKETING_HOSTS
        assert "state=marketing" in policy
        answer = client.post(
            "/consent",
            data={"action": "withdraw", "next": "/"},
            headers={"origin": "http://testserver"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        policy = client.get("/").headers["content-security-policy"]
        assert hosts_in(policy) == BASE_HOSTS
        assert "state=undecided" in policy


def test_gpc_refuses_the_hosts_of_opted_out_categories(csp_config: ConfigFactory) -> None:
    app = ConsentMiddleware(csp_site(), config=csp_config(csp="enforce"))
    with TestClient(app) as client:
        client.post(
            "/consent", json={"action": "accept_all"}, headers={"origin": "http://testserver"}
        )
        assert hosts_in(client.get("/").headers["content-security-policy"]) == (
            BASE_HOSTS | ANALYTICS_HOSTS | MARKETING_HOSTS
        )
        policy = client.get("/", headers={"sec-gpc": "1"}).headers["content-security-policy"]
        assert hosts_in(policy) == BASE_HOSTS


def test_compressed_html_gets_the_policy_too(csp_config: ConfigFactory) -> None:
    """The policy is a header: a body the middleware cannot insert into still gets it."""
    from starlette.middleware.gzip import GZipMiddleware

    site = GZipMiddleware(csp_site(), minimum_size=1)
    with TestClient(ConsentMiddleware(site, config=csp_config(csp="enforce"))) as client:
        page = client.get("/", headers={"accept-encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    assert hosts_in(page.headers["content-security-policy"]) == BASE_HOSTS


def test_site_reporting_endpoints_are_kept(csp_config: ConfigFactory) -> None:
    app = ConsentMiddleware(csp_site(), config=csp_config())
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/own-endpoints")
    assert page.headers.get_list("reporting-endpoints") == [
        'site="https://reports.example/csp"',
        'consentkit-csp="/consent/csp-report?state=undecided"',
    ]
