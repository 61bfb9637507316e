"""Region rules, region sources and the per-request resolution of a jurisdiction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consentkit import (
    CloudflareHeaders,
    CloudFrontHeaders,
    ConsentConfig,
    ConsentMiddleware,
    GeoIPDatabase,
    GoogleCloudHeaders,
    HeaderRegion,
    Region,
    VercelHeaders,
)
from consentkit.ip import ClientAddress
from consentkit.regions import COUNTRIES, GROUPS, Jurisdiction, RegionResolver, RegionSource
from tests.mmdb import write_mmdb

PROXY = "10.0.0.7"
PROXIES = ClientAddress(["10.0.0.0/8"])
RULES = [
    Region(match=["EU", "EEA", "GB", "CH"], regime="opt_in"),
    Region(match=["US-CA", "US-CO", "US-VA"], regime="us_opt_out"),
    Region(match=["US", "FR"], regime="notice"),
    Region(match=["*"], regime="none"),
]


def scope(headers: dict[str, str], peer: str | None = PROXY) -> dict[str, Any]:
    return {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": (peer, 443) if peer else None,
    }


def resolver(source: RegionSource | None, rules: list[Region] = RULES) -> RegionResolver:
    return RegionResolver(rules, source, PROXIES)


# --- rules ---------------------------------------------------------------------------------


def test_codes_are_normalised_and_checked() -> None:
    assert Region(match=[" us-ca ", "de", "eea", "*"], regime="opt_in").match == (
        "US-CA",
        "DE",
        "EEA",
        "*",
    )
    assert len(COUNTRIES) == 250  # ISO 3166-1's 249 and XK
    assert GROUPS["EEA"] == GROUPS["EU"] | {"IS", "LI", "NO"} and len(GROUPS["EU"]) == 27


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ([], "at least one code"),
        (["UK"], "the United Kingdom is 'GB'"),
        (["ZZ"], "is not a region code"),
        (["D"], "is not a region code"),
        (["DEU"], "is not a region code"),
        (["QQ-CA"], "'QQ' is not an ISO 3166-1 country code"),
        (["US-CALI"], "is not a region code"),
        (["US-"], "is not a region code"),
        (["EUROPE"], "is not a region code"),
        (["US", "us"], "listed twice in one rule"),
        ([3], "valid string"),
    ],
)
def test_bad_codes_are_refused(codes: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Region(match=codes, regime="opt_in")


def test_a_code_in_two_rules_names_both(make_config: Callable[..., ConsentConfig]) -> None:
    rules = [Region(match=["US"], regime="notice"), Region(match=["de", "us"], regime="opt_in")]
    with pytest.raises(
        ValidationError, match=r"'US' is in rule 1 \(regime 'notice'\) and in rule 2"
    ):
        make_config(
            regions=rules, region_source=CloudflareHeaders(), trusted_proxies=["10.0.0.0/8"]
        )


def test_overlapping_groups_need_one_regime() -> None:
    with pytest.raises(ValueError, match=r"groups 'EEA' .rule 2. and 'EU' .rule 1. both hold"):
        RegionResolver(
            [Region(match=["EU"], regime="opt_in"), Region(match=["EEA"], regime="notice")]
        )
    RegionResolver([Region(match=["EU"], regime="opt_in"), Region(match=["EEA"], regime="opt_in")])


def test_without_a_default_rule_the_default_is_opt_in() -> None:
    resolve = resolver(CloudflareHeaders(), [Region(match=["US"], regime="notice")]).resolve
    assert resolve(scope({"cf-ipcountry": "US"})) == Jurisdiction(
        "notice", "US", "header:cf-ipcountry"
    )
    assert resolve(scope({"cf-ipcountry": "JP"})) == Jurisdiction(
        "opt_in", "JP", "header:cf-ipcountry"
    )
    assert resolve(scope({})) == Jurisdiction("opt_in", None, "default")


def test_country_rules_need_a_source(make_config: Callable[..., ConsentConfig]) -> None:
    with pytest.raises(ValidationError, match="a rule names 'EU' but no region_source"):
        make_config(regions=RULES)
    config = make_config(regions=[Region(match=["*"], regime="notice")])
    assert RegionResolver(config.regions).resolve(scope({})) == ("notice", None, "default")


def test_header_sources_need_trusted_proxies(make_config: Callable[..., ConsentConfig]) -> None:
    with pytest.raises(ValidationError, match="'cf-ipcountry', a header believed only from"):
        make_config(regions=RULES, region_source=CloudflareHeaders())


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("US", "CA", ("us_opt_out", "US-CA")),  # the subdivision's own rule
        ("US", "NY", ("notice", "US-NY")),  # no rule for US-NY: the country's
        ("US", None, ("notice", "US")),
        ("DE", "BY", ("opt_in", "DE-BY")),  # through the EU group
        ("NO", None, ("opt_in", "NO")),  # through the EEA group
        ("FR", None, ("notice", "FR")),  # a country's own rule beats its group's
        ("GB", None, ("opt_in", "GB")),
        ("JP", "13", ("none", "JP-13")),  # no rule: the default
    ],
)
def test_the_most_specific_rule_wins(country: str, region: str | None, expected: Any) -> None:
    headers = {"cf-ipcountry": country, **({"cf-region-code": region} if region else {})}
    found = resolver(CloudflareHeaders()).resolve(scope(headers))
    assert (found.regime, found.region) == expected
    assert found.source == "header:cf-ipcountry"


# --- header values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region", "expected"),
    [
        ("us", "ca", "US-CA"),  # lower case is read as upper case
        (" US ", " CA ", "US-CA"),  # spaces trimmed
        ("US", "US-CA", "US-CA"),  # the full ISO 3166-2 code
        ("XX", None, None),  # Cloudflare's "unknown"
        ("T1", None, None),  # Cloudflare's Tor
        ("EU", None, None),  # a group is not a country
        ("A1", None, None),  # old GeoIP "anonymous proxy"
        ("ZZ", None, None),  # user-assigned
        ("United States", None, None),
        ("U", None, None),
        ("", None, None),
        ("US" + " " * 40, None, None),  # too long: not even decoded
        ("\xe9\xe9", None, None),
        ("US", "CALIF", "US"),  # a bad subdivision leaves the country
        ("US", "CA-ON", "US"),  # another country's subdivision
        ("US", "USCA", "US"),  # the CLDR form, only for sources that say so
        ("US", "", "US"),
        ("US", "C" * 40, "US"),
    ],
)
def test_bad_header_values_have_a_defined_result(
    country: str, region: str | None, expected: str | None
) -> None:
    headers = {
        "cf-ipcountry": country,
        **({"cf-region-code": region} if region is not None else {}),
    }
    found = resolver(CloudflareHeaders()).resolve(scope(headers))
    if expected is None:  # unknown: the default rule, as a visitor without headers
        assert found == Jurisdiction("none", None, "default")
    else:
        assert found.region == expected


@pytest.mark.parametrize(
    ("source", "headers", "label"),
    [
        (CloudflareHeaders(), {"CF-IPCountry": "US", "cf-region-code": "CA"}, "cf-ipcountry"),
        (
            CloudFrontHeaders(),
            {"CloudFront-Viewer-Country": "US", "CloudFront-Viewer-Country-Region": "CA"},
            "cloudfront-viewer-country",
        ),
        (
            VercelHeaders(),
            {"x-vercel-ip-country": "US", "x-vercel-ip-country-region": "CA"},
            "x-vercel-ip-country",
        ),
        (GoogleCloudHeaders(), {"X-Gclb-Country": "US", "X-Gclb-Region": "USCA"}, "x-gclb-country"),
        (GoogleCloudHeaders(), {"X-Gclb-Country": "US", "X-Gclb-Region": "usca"}, "x-gclb-country"),
        (
            GoogleCloudHeaders("x-country", "x-sub"),
            {"x-country": "US", "x-sub": "USCA"},
            "x-country",
        ),
        (
            HeaderRegion("Fastly-Geo-Country", "Fastly-Geo-Region"),
            {"fastly-geo-country": "US", "fastly-geo-region": "CA"},
            "fastly-geo-country",
        ),
    ],
)
def test_every_adapter(source: RegionSource, headers: dict[str, str], label: str) -> None:
    found = resolver(source).resolve(scope(headers))
    assert found == Jurisdiction("us_opt_out", "US-CA", f"header:{label}")
    assert resolver(source).vary == tuple(h.lower() for h in headers)


def test_a_header_name_is_checked() -> None:
    with pytest.raises(ValueError, match="is not an HTTP header name"):
        HeaderRegion("X Country")


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    resolve = resolver(CloudflareHeaders()).resolve
    headers = {"cf-ipcountry": "US", "cf-region-code": "CA"}
    assert resolve(scope(headers, peer="203.0.113.9")) == Jurisdiction("none", None, "default")
    assert resolve(scope(headers, peer=None)) == Jurisdiction("none", None, "default")
    assert resolve(scope(headers, peer="not-an-address")) == Jurisdiction("none", None, "default")
    assert resolve(scope(headers)).region == "US-CA"
    # Without trusted proxies nothing is believed.
    untrusting = RegionResolver(RULES, CloudflareHeaders(), ClientAddress([]))
    assert untrusting.resolve(scope(headers)).source == "default"


def test_sources_are_asked_in_order() -> None:
    chain = CloudflareHeaders() | VercelHeaders() | HeaderRegion("x-country")
    assert [type(s).__name__ for s in chain.sources] == [
        "CloudflareHeaders",
        "VercelHeaders",
        "HeaderRegion",
    ]
    assert repr(chain) == "CloudflareHeaders() | VercelHeaders() | HeaderRegion('x-country', None)"
    resolve = resolver(chain).resolve
    both = {"cf-ipcountry": "DE", "x-vercel-ip-country": "US"}
    assert resolve(scope(both)).source == "header:cf-ipcountry"
    # An unknown value in the first lets the next answer.
    fallback = {"cf-ipcountry": "XX", "x-vercel-ip-country": "US", "x-country": "FR"}
    assert resolve(scope(fallback)) == Jurisdiction("notice", "US", "header:x-vercel-ip-country")
    assert resolve(scope({"x-country": "FR"})).source == "header:x-country"


def test_no_sources_cost_one_call() -> None:
    plain = RegionResolver([])
    assert plain.resolve(scope({"cf-ipcountry": "US"})) == Jurisdiction("opt_in", None, "default")
    assert plain.vary == () and not plain.by_address


def test_the_header_cache_is_bounded() -> None:
    resolve = resolver(CloudflareHeaders()).resolve
    for number in range(5000):
        assert resolve(scope({"cf-ipcountry": "US", "cf-region-code": f"{number}"})).regime
    owner = resolver(CloudflareHeaders())
    for number in range(5000):
        owner.resolve(scope({"cf-ipcountry": "DE", "cf-region-code": str(number)}))
    assert len(owner._cache) == 4096
    # Beyond the bound results are still right, only not kept.
    assert owner.resolve(scope({"cf-ipcountry": "US", "cf-region-code": "CA"})).region == "US-CA"


# --- GeoIP ---------------------------------------------------------------------------------


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return write_mmdb(
        tmp_path / "city.mmdb",
        {
            "203.0.113.0/24": {
                "country": {"iso_code": "US", "names": {"en": "United States"}},
                "subdivisions": [{"iso_code": "CA"}, {"iso_code": "XX"}],
            },
            "198.51.100.0/24": {"country": {"iso_code": "DE"}},
            "192.0.2.0/25": {"continent": {"code": "EU"}},  # no country
            "192.0.2.128/25": {"country": {"iso_code": "T1"}},
            "2001:db8::/32": {"country": {"iso_code": "NO"}, "subdivisions": [{"iso_code": "03"}]},
        },
    )


def test_geoip_from_the_peer(city_db: Path) -> None:
    resolve = RegionResolver(RULES, GeoIPDatabase(city_db), ClientAddress([])).resolve
    assert resolve(scope({}, "203.0.113.9")) == Jurisdiction("us_opt_out", "US-CA", "geoip")
    assert resolve(scope({}, "::ffff:203.0.113.9")).region == "US-CA"
    assert resolve(scope({}, "198.51.100.1")) == Jurisdiction("opt_in", "DE", "geoip")
    assert resolve(scope({}, "2001:db8::5")) == Jurisdiction("opt_in", "NO-03", "geoip")
    for unknown in ("192.0.2.1", "192.0.2.200", "100.64.0.1", "not-an-ip", None):
        assert resolve(scope({}, unknown)) == Jurisdiction("none", None, "default")


def test_geoip_reads_forwarded_for_only_from_trusted_proxies(city_db: Path) -> None:
    resolve = RegionResolver(RULES, GeoIPDatabase(city_db), PROXIES).resolve
    forwarded = {"x-forwarded-for": "203.0.113.9, 10.0.0.3"}
    assert resolve(scope(forwarded)).region == "US-CA"
    assert resolve(scope(forwarded, peer="198.51.100.1")).region == "DE"


def test_headers_then_geoip(city_db: Path) -> None:
    source = CloudflareHeaders() | GeoIPDatabase(city_db)
    resolve = RegionResolver(RULES, source, PROXIES).resolve
    assert resolve(scope({"cf-ipcountry": "FR"})).source == "header:cf-ipcountry"
    assert resolve(scope({"cf-ipcountry": "FR"}, "198.51.100.1")).source == "geoip"
    assert resolve(scope({"cf-ipcountry": "XX", "x-forwarded-for": "198.51.100.1"})) == (
        Jurisdiction("opt_in", "DE", "geoip")
    )
    assert RegionResolver(RULES, source, PROXIES).by_address


def test_geoip_database_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        GeoIPDatabase(tmp_path / "missing.mmdb")
    (tmp_path / "junk.mmdb").write_bytes(b"not a database")
    with pytest.raises(ValueError, match="cannot read"):
        GeoIPDatabase(tmp_path / "junk.mmdb")
    asn = write_mmdb(
        tmp_path / "asn.mmdb",
        {"203.0.113.0/24": {"autonomous_system_number": 64496}},
        "GeoLite2-ASN",
    )
    with pytest.raises(ValueError, match="is a 'GeoLite2-ASN' database"):
        GeoIPDatabase(asn)
    assert repr(GeoIPDatabase(write_mmdb(tmp_path / "c.mmdb", {}, "DBIP-Country-Lite"))).startswith(
        "GeoIPDatabase("
    )
    monkeypatch.setitem(__import__("sys").modules, "maxminddb", None)
    with pytest.raises(ImportError, match=r"pip install 'consentkit\[geoip\]'"):
        GeoIPDatabase(tmp_path / "c.mmdb")


# --- through the middleware ----------------------------------------------------------------


async def where(request: Request) -> Response:
    jurisdiction = request.state.jurisdiction
    return JSONResponse(jurisdiction._asdict())


async def html(request: Request) -> Response:
    return HTMLResponse("<html><body><p>hi</p></body></html>", headers={"vary": "Accept-Encoding"})


def regional_app(config: ConsentConfig) -> ConsentMiddleware:
    routes = [Route("/where", where), Route("/page", html)]
    return ConsentMiddleware(Starlette(routes=routes), config=config)


def test_the_middleware_puts_the_jurisdiction_in_state(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(regions=RULES, region_source=CloudflareHeaders(), trusted_proxies=[PROXY])
    with TestClient(regional_app(config), client=(PROXY, 1)) as client:
        body = client.get("/where", headers={"cf-ipcountry": "US", "cf-region-code": "CO"}).json()
        assert body == {"regime": "us_opt_out", "region": "US-CO", "source": "header:cf-ipcountry"}
    with TestClient(regional_app(config), client=("203.0.113.1", 1)) as client:
        body = client.get("/where", headers={"cf-ipcountry": "US"}).json()
        assert body == {"regime": "none", "region": None, "source": "default"}


def test_regional_html_varies_by_the_region_headers(
    make_config: Callable[..., ConsentConfig],
) -> None:
    source = CloudflareHeaders() | HeaderRegion("x-country")
    config = make_config(regions=RULES, region_source=source, trusted_proxies=[PROXY])
    with TestClient(regional_app(config), client=(PROXY, 1)) as client:
        response = client.get("/page", headers={"cf-ipcountry": "DE"})
        assert (
            response.headers["vary"]
            == "Accept-Encoding, Cookie, cf-ipcountry, cf-region-code, x-country"
        )
        assert response.headers["cache-control"] == "private"
        # Not per-visitor (no HTML, no cookies): left alone, as without regions.
        assert "vary" not in client.get("/where").headers


def test_html_without_regions_varies_by_cookie_only(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    with TestClient(regional_app(make_config())) as client:
        assert client.get("/page").headers["vary"] == "Accept-Encoding, Cookie"
    geo = write_mmdb(tmp_path / "geo.mmdb", {"203.0.113.0/24": {"country": {"iso_code": "US"}}})
    config = make_config(regions=RULES, region_source=GeoIPDatabase(geo))
    with TestClient(regional_app(config), client=("203.0.113.4", 1)) as client:
        response = client.get("/page")
        # The address cannot be named in Vary: Cache-Control: private keeps it out of shared caches.
        assert response.headers["vary"] == "Accept-Encoding, Cookie"
        assert response.headers["cache-control"] == "private"
        assert client.get("/where").json()["region"] == "US"


@given(
    country=st.binary(max_size=40),
    region=st.one_of(st.none(), st.binary(max_size=40)),
    gclb=st.binary(max_size=10),
)
def test_any_header_bytes_give_a_jurisdiction(
    country: bytes, region: bytes | None, gclb: bytes
) -> None:
    owner = RegionResolver(RULES, CloudflareHeaders() | GoogleCloudHeaders(), PROXIES)
    headers = [(b"cf-ipcountry", country), (b"x-gclb-country", b"US"), (b"x-gclb-region", gclb)]
    if region is not None:
        headers.append((b"cf-region-code", region))
    found = owner.resolve({"type": "http", "headers": headers, "client": (PROXY, 1)})
    assert found.regime in ("opt_in", "us_opt_out", "notice", "none")
    assert found.region is None or found.region[:2] in COUNTRIES
    if found.source == "header:x-gclb-country":  # Cloudflare's value was not a country
        too_long = len(country) > 16
        assert too_long or country.strip().upper().decode("latin-1") not in COUNTRIES
        assert found.region is not None and found.region.startswith("US")
