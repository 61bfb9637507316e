"""Regions and the consent regime that applies in each.

A site lists ``Region(match=[...], regime=...)`` rules; the most specific
rule matching the visitor's region (``US-CA`` before ``US`` before a group
such as ``EU`` before ``*``) gives the regime. The region comes from a
`RegionSource` (CDN headers from trusted proxies, a GeoIP database the site
supplies), resolved once per request by a `RegionResolver` that has
precomputed everything it can: the per-request work is one scan of the
request's headers and a few dictionary lookups.

A visitor whose region is unknown (no source answered, a header from an
untrusted peer, a value that is not a country code) gets the default rule's
regime, ``*``; without a ``*`` rule, ``opt_in``. The default should be the
strictest regime a site uses: the visitors it catches are exactly those the
site could not place, and a stricter regime applied by mistake costs a banner
while a laxer one applied by mistake breaks the law of the visitor's country.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, field_validator
from starlette.types import Scope

if TYPE_CHECKING:
    from consentkit.ip import ClientAddress

__all__ = [
    "COUNTRIES",
    "GROUPS",
    "OPT_IN",
    "REGIMES",
    "STRICTNESS",
    "CloudFrontHeaders",
    "CloudflareHeaders",
    "GeoIPDatabase",
    "GoogleCloudHeaders",
    "HeaderRegion",
    "Jurisdiction",
    "Regime",
    "Region",
    "RegionResolver",
    "RegionSource",
    "VercelHeaders",
    "check_rules",
    "proxies_needed",
    "regime_table",
]

#: ``opt_in``: nothing optional before consent; ``us_opt_out``: sale/share categories on
#: until the visitor opts out; ``notice``: an informational notice; ``none``: nothing shown.
Regime = Literal["opt_in", "us_opt_out", "notice", "none"]
#: Every regime, loosest first.
REGIMES: tuple[Regime, ...] = ("none", "notice", "us_opt_out", "opt_in")
#: How strict each regime is: a visitor whose regime becomes stricter than the one
#: their choice was made under is asked again; a looser one keeps the choice.
STRICTNESS: dict[str, int] = {regime: rank for rank, regime in enumerate(REGIMES)}

#: ISO 3166-1 alpha-2 codes officially assigned, and ``XK`` (Kosovo: user-assigned,
#: but what CDNs and GeoIP databases send).
_ISO_3166_1 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW XK
"""
COUNTRIES = frozenset(_ISO_3166_1.split())
_EU_MEMBERS = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
_EU = frozenset(_EU_MEMBERS.split())
#: The built-in groups: the European Union's 27 members, and the EEA (the EU with
#: Iceland, Liechtenstein and Norway).
GROUPS: dict[str, frozenset[str]] = {"EU": _EU, "EEA": _EU | {"IS", "LI", "NO"}}

# ISO 3166-2: the country, '-', one to three letters or digits.
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
# Longer header values are not codes; they are not even decoded.
_MAX_VALUE = 16


def _check_code(raw: str) -> str:
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if code == "*" or code in GROUPS or code in COUNTRIES:
        return code
    country, dash, subdivision = code.partition("-")
    if dash and country in COUNTRIES and _SUBDIVISION.fullmatch(subdivision):
        return code
    if code == "UK":
        raise ValueError("region 'UK' is not an ISO 3166-1 code; the United Kingdom is 'GB'")
    if dash and country not in COUNTRIES:
        raise ValueError(f"region {raw!r}: {country!r} is not an ISO 3166-1 country code")
    raise ValueError(
        f"region {raw!r} is not a region code: use an ISO 3166-1 country ('DE'), an ISO "
        f"3166-2 subdivision ('US-CA'), a group ({', '.join(sorted(GROUPS))}) or '*'"
    )


class Region(BaseModel):
    """A rule: visitors from any of ``match`` (ISO codes, ``EU``, ``EEA``, ``*``) get ``regime``.

    Codes are ISO 3166-1 countries (``DE``) or ISO 3166-2 subdivisions
    (``US-CA``), written in any case and kept in upper case; ``EU`` and
    ``EEA`` are the built-in groups; ``*`` is the default rule.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: tuple[str, ...]
    regime: Regime

    @field_validator("match")
    @classmethod
    def _check_match(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a Region needs at least one code in match")
        codes: list[str] = []
        for raw in value:
            code = _check_code(raw)
            if code in codes:
                raise ValueError(f"region {code!r} is listed twice in one rule")
            codes.append(code)
        return tuple(codes)


def check_rules(rules: Sequence[Region]) -> None:
    """Refuse rules whose codes collide: one code in two rules, overlapping groups.

    The same code in two rules is an error naming both. ``EU`` and ``EEA`` in
    rules with different regimes is too, since a country in both would match
    both; a country listed on its own beside a group is not (the country wins).
    """
    owner: dict[str, int] = {}
    for index, rule in enumerate(rules):
        for code in rule.match:
            if code in owner:
                first = owner[code]
                raise ValueError(
                    f"region {code!r} is in rule {first + 1} (regime {rules[first].regime!r}) "
                    f"and in rule {index + 1} (regime {rule.regime!r}); list it once"
                )
            owner[code] = index
    groups = [(code, index) for code, index in owner.items() if code in GROUPS]
    for code, index in groups:
        for other, other_index in groups:
            clash = GROUPS[code] & GROUPS[other]
            if code < other and clash and rules[index].regime != rules[other_index].regime:
                raise ValueError(
                    f"groups {code!r} (rule {index + 1}) and {other!r} (rule {other_index + 1}) "
                    f"both hold {', '.join(sorted(clash)[:3])}, ...: give them one regime, or "
                    "list the countries of the smaller group's complement instead"
                )


def regime_table(rules: Sequence[Region]) -> tuple[dict[str, Regime], Regime]:
    """The regime of every code the rules name, and the default regime.

    A group's countries are listed one by one; a country's own rule (or a
    subdivision's) is kept over its group's. The default is the ``*`` rule's
    regime, ``opt_in`` without one.
    """
    default: Regime = "opt_in"
    by_code: dict[str, Regime] = {}
    by_group: dict[str, Regime] = {}
    for rule in rules:
        for code in rule.match:
            if code == "*":
                default = rule.regime
            elif code in GROUPS:
                by_group.update(dict.fromkeys(GROUPS[code], rule.regime))
            else:
                by_code[code] = rule.regime
    return {**by_group, **by_code}, default


class Jurisdiction(NamedTuple):
    """What applies to one request: the regime, the visitor's region and where it came from."""

    regime: Regime
    #: ISO 3166 code (``DE``, ``US-CA``), or ``None`` when unknown.
    region: str | None
    #: ``default``, ``header:<name>`` or ``geoip``.
    source: str


OPT_IN = Jurisdiction("opt_in", None, "default")


class RegionSource:
    """Where a request's region comes from. Combine sources with ``|``: the first that knows wins.

    ``CloudflareHeaders() | GeoIPDatabase("/srv/GeoLite2-City.mmdb")`` reads
    Cloudflare's headers and, when they are absent, looks the client up.
    """

    def __or__(self, other: RegionSource) -> RegionSource:
        if not isinstance(other, RegionSource):
            return NotImplemented
        return _Chain((*self.sources, *other.sources))

    @property
    def sources(self) -> tuple[RegionSource, ...]:
        """The single sources, in the order they are asked."""
        return (self,)

    def __repr__(self) -> str:
        return " | ".join(type(s).__name__ + s._args() for s in self.sources)

    def _args(self) -> str:
        return "()"


class _Chain(RegionSource):
    def __init__(self, sources: tuple[RegionSource, ...]) -> None:
        self._sources = sources

    @property
    def sources(self) -> tuple[RegionSource, ...]:
        return self._sources


class HeaderRegion(RegionSource):
    """The region from request headers a proxy in front of the site sets.

    ``country`` names the header holding the ISO 3166-1 country code (``DE``);
    ``region``, if given, the header holding the subdivision: its ISO 3166-2
    part (``CA``) or the full code (``US-CA``); with ``cldr=True`` also a
    CLDR subdivision id (``usca``), as Google Cloud writes it. The headers
    are believed only from a peer in ``ConsentConfig.trusted_proxies``. Use it
    for Fastly, Akamai or any proxy you configure to send the visitor's country.

    A country value is matched case-insensitively after trimming spaces; a
    value that is not an assigned country code (``XX``, Tor's ``T1``, ``EU``,
    garbage, anything over 16 bytes) means the region is unknown, and the next
    source is asked. A subdivision value that is not a code is ignored: the
    region is then the country alone.
    """

    def __init__(self, country: str, region: str | None = None, *, cldr: bool = False) -> None:
        for header in (country, region):
            if header is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
                raise ValueError(f"{header!r} is not an HTTP header name")
        self.country = country.lower()
        self.region = region.lower() if region else None
        self.cldr = cldr

    def _args(self) -> str:
        return f"({self.country!r}, {self.region!r})"


class CloudflareHeaders(HeaderRegion):
    """Cloudflare's ``CF-IPCountry`` and ``cf-region-code``.

    ``cf-region-code`` is sent once the "Add visitor location headers" managed
    transform is on; without it the region is the country alone.
    """

    def __init__(self) -> None:
        super().__init__("cf-ipcountry", "cf-region-code")

    def _args(self) -> str:
        return "()"


class CloudFrontHeaders(HeaderRegion):
    """Amazon CloudFront's ``CloudFront-Viewer-Country`` and ``-Country-Region``.

    Add both to the origin request policy so that CloudFront forwards them.
    """

    def __init__(self) -> None:
        super().__init__("cloudfront-viewer-country", "cloudfront-viewer-country-region")

    def _args(self) -> str:
        return "()"


class VercelHeaders(HeaderRegion):
    """Vercel's ``x-vercel-ip-country`` and ``x-vercel-ip-country-region``."""

    def __init__(self) -> None:
        super().__init__("x-vercel-ip-country", "x-vercel-ip-country-region")

    def _args(self) -> str:
        return "()"


class GoogleCloudHeaders(HeaderRegion):
    """A Google Cloud load balancer's ``X-Gclb-Country`` and ``X-Gclb-Region``.

    Google sets none by default: add the custom request headers
    ``X-Gclb-Country:{client_region}`` and
    ``X-Gclb-Region:{client_region_subdivision}`` to the backend service (or
    pass other names). The subdivision is a CLDR id (``USCA``).
    """

    def __init__(self, country: str = "x-gclb-country", region: str = "x-gclb-region") -> None:
        super().__init__(country, region, cldr=True)


class GeoIPDatabase(RegionSource):
    """A MaxMind (GeoIP2, GeoLite2) or DB-IP ``.mmdb`` file the site supplies.

    Read with ``maxminddb`` (``pip install 'consentkit[geoip]'``); consentkit
    ships no database. Country databases give the country, city databases
    also the subdivision. The client's address is the peer's, or, from a
    trusted proxy, the ``X-Forwarded-For`` hop before it; it is looked up and
    forgotten, never stored. The file is opened (memory-mapped) here, so a
    missing or unreadable file fails when the configuration is built.
    """

    def __init__(self, path: str | Path) -> None:
        try:
            import maxminddb
        except ImportError:
            raise ImportError(
                "GeoIPDatabase needs the maxminddb package: pip install 'consentkit[geoip]'"
            ) from None
        self.path = Path(path)
        try:
            self._reader: Any = maxminddb.open_database(str(self.path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ValueError(f"GeoIPDatabase: cannot read {str(self.path)!r}: {exc}") from None
        kind = str(self._reader.metadata().database_type)
        if "country" not in kind.lower() and "city" not in kind.lower():
            raise ValueError(
                f"GeoIPDatabase: {str(self.path)!r} is a {kind!r} database; "
                "use a country or city database"
            )

    def _args(self) -> str:
        return f"({str(self.path)!r})"

    def locate(self, ip: str) -> tuple[str, str | None] | None:
        """The country and subdivision of ``ip``, or ``None`` when the database does not know."""
        if ip[:7].lower() == "::ffff:" and "." in ip:  # IPv4 on a dual-stack socket
            ip = ip[7:]
        try:
            record = self._reader.get(ip)
        except ValueError:  # not an address, or IPv6 in an IPv4 database
            return None
        if not isinstance(record, dict):
            return None
        country = record.get("country")
        code = country.get("iso_code") if isinstance(country, dict) else None
        if not isinstance(code, str) or code.upper() not in COUNTRIES:
            return None
        code = code.upper()
        subdivisions = record.get("subdivisions")
        if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
            part = subdivisions[0].get("iso_code")
            if isinstance(part, str) and _SUBDIVISION.fullmatch(part.upper()):
                return code, f"{code}-{part.upper()}"
        return code, None


def _country(raw: bytes) -> str | None:
    if len(raw) > _MAX_VALUE:
        return None
    code = raw.strip().upper().decode("latin-1")
    return code if code in COUNTRIES else None


def _subdivision(raw: bytes, country: str, cldr: bool) -> str | None:
    if len(raw) > _MAX_VALUE:
        return None
    code = raw.strip().upper().decode("latin-1")
    if code.startswith(country) and (code[2:3] == "-" or cldr):
        code = code[3:] if code[2:3] == "-" else code[2:]
    return f"{country}-{code}" if _SUBDIVISION.fullmatch(code) else None


class _HeaderStep(NamedTuple):
    country: int  # slot of the country header's value
    region: int  # slot of the region header's value, -1 for none
    cldr: bool
    source: str


# Bounds of the resolver's caches: distinct header values, trusted peers.
_MAX_CACHED = 4096
_MAX_PEERS = 256


class RegionResolver:
    """Finds the `Jurisdiction` of a request from the configured rules and sources.

    Everything is precomputed here: the rule table (groups expanded, a
    country's own rule over a group's), the header names to look for, the
    jurisdiction of each header value seen (a bounded cache). Without
    sources every request gets the default rule's jurisdiction.
    """

    def __init__(
        self,
        regions: Sequence[Region],
        source: RegionSource | None = None,
        addresses: ClientAddress | None = None,
    ) -> None:
        check_rules(regions)
        table, default = regime_table(regions)
        self._default = Jurisdiction(default, None, "default")
        #: Regime of each code a rule names, a group's countries included.
        self.table = table
        self._addresses = addresses
        sources = source.sources if source is not None else ()
        names: dict[str, int] = {}
        self._steps: list[_HeaderStep | GeoIPDatabase] = []
        for item in sources:
            if isinstance(item, HeaderRegion):
                country = names.setdefault(item.country, len(names))
                region = names.setdefault(item.region, len(names)) if item.region else -1
                self._steps.append(
                    _HeaderStep(country, region, item.cldr, f"header:{item.country}")
                )
            elif isinstance(item, GeoIPDatabase):
                self._steps.append(item)
            else:
                raise TypeError(f"{item!r} is not a region source consentkit knows")
        self._geoip = any(isinstance(step, GeoIPDatabase) for step in self._steps)
        self._headers = not all(isinstance(step, GeoIPDatabase) for step in self._steps)
        if self._geoip:
            names.setdefault("x-forwarded-for", len(names))
        self._forwarded = names.get("x-forwarded-for", -1)
        self._names = {name.encode(): slot for name, slot in names.items()}
        self._empty: list[bytes | None] = [None] * len(names)
        #: The header names the region is read from, for ``Vary``.
        self.vary: tuple[str, ...] = tuple(name for name in names if name != "x-forwarded-for")
        #: Whether the region may come from the client's address, which ``Vary`` cannot name.
        self.by_address = self._geoip
        self._cache: dict[tuple[int, bytes, bytes | None], Jurisdiction] = {}
        self._trusted: set[str] = set()

    def jurisdiction(self, region: str | None, source: str) -> Jurisdiction:
        """The jurisdiction of a visitor from ``region`` (``US-CA``, ``DE``, ``None``)."""
        if region is None:
            return self._default
        regime = self.table.get(region)
        if regime is None:
            regime = self.table.get(region[:2])
        if regime is None:
            return Jurisdiction(self._default.regime, region, source)
        return Jurisdiction(regime, region, source)

    def resolve(self, scope: Scope) -> Jurisdiction:
        """The jurisdiction of the request ``scope``."""
        if not self._steps:
            return self._default
        peer = scope.get("client")
        host: str | None = peer[0] if peer else None
        trusted = host is not None and self._trusts(host)
        if not trusted and not self._geoip:
            return self._default  # headers from anybody else are not read at all
        names = self._names
        values = self._empty.copy()
        for name, value in scope["headers"]:
            if name in names:
                values[names[name]] = value
        for index, step in enumerate(self._steps):
            if isinstance(step, _HeaderStep):
                if not trusted:
                    continue
                country = values[step.country]
                if country is None:
                    continue
                region = values[step.region] if step.region >= 0 else None
                key = (index, country, region)
                cached = self._cache.get(key)
                if cached is not None:
                    return cached
                code = _country(country)
                if code is None:
                    continue
                if region is not None:
                    code = _subdivision(region, code, step.cldr) or code
                result = self.jurisdiction(code, step.source)
                if len(self._cache) < _MAX_CACHED:
                    self._cache[key] = result
                return result
            ip = host
            if self._addresses is not None and host is not None:
                forwarded = values[self._forwarded]
                ip = self._addresses.resolve(
                    host, forwarded.decode("latin-1") if forwarded else None, None, "http"
                )[0]
            located = step.locate(ip) if ip else None
            if located is not None:
                return self.jurisdiction(located[1] or located[0], "geoip")
        return self._default

    def _trusts(self, host: str) -> bool:
        if host in self._trusted:
            return True
        if not self._headers or self._addresses is None or not self._addresses.trusts(host):
            return False
        # Only proxies' addresses are kept, never a visitor's.
        if len(self._trusted) < _MAX_PEERS:
            self._trusted.add(host)
        return True


def proxies_needed(source: RegionSource | None, trusted_proxies: Iterable[str]) -> str | None:
    """Why ``source`` cannot work without trusted proxies, or ``None`` when it can."""
    if source is None or any(True for _ in trusted_proxies):
        return None
    headers = [s for s in source.sources if isinstance(s, HeaderRegion)]
    if not headers:
        return None
    return (
        f"region_source reads {headers[0].country!r}, a header believed only from "
        "trusted_proxies: list your CDN's or load balancer's addresses in trusted_proxies "
        "(otherwise every visitor would get the default regime)"
    )
