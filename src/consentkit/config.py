"""Configuration models: what a site declares in Python.

Everything is validated when the model is built, so a mistake in a site's
configuration fails at start-up with a message that names it, not on the
first visitor's request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from consentkit.errors import StorageError
from consentkit.i18n import check_texts, shipped_languages
from consentkit.regions import Region, RegionSource, check_rules, proxies_needed
from consentkit.storage import parse_storage_url

__all__ = [
    "MAX_CONSENT_LIFETIME",
    "AnalyticsConfig",
    "Category",
    "ConsentConfig",
    "Cookie",
    "Script",
]

#: The longest a decision may be remembered: 13 months (CNIL guidance), as days.
MAX_CONSENT_LIFETIME = timedelta(days=395)
#: How long a decision is remembered unless configured: about six months.
DEFAULT_CONSENT_LIFETIME = timedelta(days=182)
MIN_KEY_BYTES = 32
#: The consent types Google's Consent Mode (v2) knows.
CONSENT_MODE_TYPES = frozenset(
    {
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "analytics_storage",
        "functionality_storage",
        "personalization_storage",
        "security_storage",
    }
)

#: The advertising types, which an opt-out under ``us_opt_out`` denies.
CONSENT_MODE_AD_TYPES = frozenset({"ad_storage", "ad_user_data", "ad_personalization"})

#: On a ``Sequence`` field: a site may pass a list or a tuple; a tuple is kept.
_TUPLE = AfterValidator(tuple)

_DOMAIN = re.compile(r"^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_PATH = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+=:@%/]+$")
_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_COOKIE_NAME = re.compile(r"^[!#$%&'+\-.^_`|~0-9A-Za-z]+\*?$")

#: The fetch directives a consent policy may govern, and those it governs by default.
CSP_GOVERNABLE = (
    "child-src", "connect-src", "font-src", "frame-src", "img-src", "manifest-src",
    "media-src", "object-src", "script-src", "style-src", "worker-src",
)  # fmt: skip
CSP_DEFAULT_DIRECTIVES = (
    "script-src", "connect-src", "img-src", "frame-src", "media-src", "style-src", "font-src",
)  # fmt: skip
_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(
    rf"^(?P<wild>\*\.)?(?P<name>{_HOST_LABEL}(?:\.{_HOST_LABEL})*)(?::(?P<port>[0-9]{{1,5}}|\*))?$"
)


def _check_hosts(value: Sequence[str], field: str) -> tuple[str, ...]:
    """Host sources, lowercased and without repeats; a clear error for anything else."""
    hosts: list[str] = []
    for raw in value:
        host = raw.strip().lower() if isinstance(raw, str) else raw
        if not isinstance(host, str) or not host:
            raise ValueError(f"{field}: {raw!r} is not a host name")
        if "://" in host or "/" in host:
            raise ValueError(
                f"{field}: {raw!r} is a URL; give the host name only ('cdn.example.com')"
            )
        if not host.isascii():
            raise ValueError(
                f"{field}: {raw!r} is not ASCII; write an international name in its "
                "'xn--' (punycode) form"
            )
        match = _HOST.match(host)
        if match is None:
            raise ValueError(
                f"{field}: {raw!r} is not a host name: use 'cdn.example.com', "
                "'*.example.com' or either with ':port'"
            )
        if len(match["name"]) > 253:
            raise ValueError(f"{field}: {raw!r} is longer than 253 characters")
        if match["wild"] and "." not in match["name"]:
            raise ValueError(
                f"{field}: {raw!r} would allow a whole top-level domain; "
                "a wildcard needs at least two labels after '*.'"
            )
        port = match["port"]
        if port is not None and port != "*" and not 0 < int(port) <= 65535:
            raise ValueError(f"{field}: {raw!r} has no valid port (1-65535)")
        if host not in hosts:
            hosts.append(host)
    return tuple(hosts)


#: A callable that decides whether a request may see the dashboard.
DashboardAuth = Callable[[Any], bool | Awaitable[bool]]


class _Model(BaseModel):
    # Inputs may hold secret keys or passwords: errors never show them.
    model_config = ConfigDict(
        frozen=True, extra="forbid", arbitrary_types_allowed=True, hide_input_in_errors=True
    )


def _without_inputs(error: ValidationError) -> ValidationError:
    """``error`` with every input replaced, so not even ``errors()`` can show a secret."""
    details = [
        InitErrorDetails(type=d["type"], loc=d["loc"], input="<hidden>", ctx=d.get("ctx", {}))
        for d in error.errors()
    ]
    return ValidationError.from_exception_data(error.title, details, hide_input=True)


#: What a script attribute name may look like (lowercased): letters, digits, ``-``, ``_``,
#: ``.`` and ``:``, starting with a letter.
_ATTR_NAME = re.compile(r"^[a-z][a-z0-9_.:-]*$")
#: Attributes consentkit writes itself on a script tag, or that would change what runs.
_RESERVED_ATTRS = frozenset(
    {"src", "type", "nonce", "data-type", "data-consent", "data-consentkit-ran", "srcdoc"}
)
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _check_src(value: str) -> str:
    """A script URL: ``http(s)://host/...`` or a root-relative ``/path``; an error otherwise."""
    if not value:
        raise ValueError("script src is empty")
    bad = next((c for c in value if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(
            f"script src {value!r} contains whitespace or a control character ({bad!r}); "
            "percent-encode it"
        )
    if "\\" in value:
        raise ValueError(
            f"script src {value!r} contains a backslash, which browsers read as '/'; use '/'"
        )
    if value.startswith("//"):
        raise ValueError(
            f"script src {value!r} is protocol-relative; write 'https:{value}' in full"
        )
    if value.startswith("/"):
        return value
    scheme = _URL_SCHEME.match(value)
    if scheme is None:
        raise ValueError(
            f"script src {value!r} is a relative path, which would differ from page to page; "
            "start it with '/' or give an http(s) URL"
        )
    if scheme[1].lower() not in ("http", "https"):
        raise ValueError(
            f"script src {value!r} has the scheme {scheme[1]!r}; "
            "only http(s) URLs and '/' paths can be loaded"
        )
    rest = value[len(scheme[0]) :]
    host = (
        rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if rest.startswith("//") else ""
    )
    if "@" in host:
        raise ValueError(f"script src {value!r} has user information before its host; remove it")
    if not _HOST.match(host.lower()) or host.startswith("*"):
        raise ValueError(f"script src {value!r} has no valid host name (https://host/path)")
    return value


def script_host(src: str) -> str | None:
    """The host a script ``src`` loads from (lowercased, without port), or ``None`` for a path."""
    if src.startswith("/"):
        return None
    host = src.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


class Script(_Model):
    """A script a category loads: an external ``src`` or ``inline`` code, not both.

    consentkit inserts it into every HTML page it inserts into: as a live
    ``<script>`` (with the request's CSP nonce) for a visitor who granted the
    category, as an inert ``<script type="text/plain">`` the snippet runs on a
    later grant for everybody else. ``placement`` is ``"head"`` (before
    ``</head>``) or ``"body_end"`` (before ``</body>``). ``attrs`` are further
    attributes (``{"async": True, "crossorigin": "anonymous"}``): ``True`` writes
    the attribute bare, ``False`` leaves it out.
    """

    #: The script's URL: ``https://host/path`` (or ``http``) or a path on the site (``/js/a.js``).
    src: str | None = None
    #: The script's code; ``<`` of ``</script``, ``<script`` and ``<!--`` is written ``\x3C``.
    inline: str | None = None
    #: ``"head"``: before ``</head>`` (at the end of the body on a page without one);
    #: ``"body_end"``: before ``</body>``.
    placement: Literal["head", "body_end"] = "body_end"
    #: Further attributes (``async``, ``crossorigin``, ``integrity``, ``data-*``); no ``on*``
    #: handlers, no ``src``, ``type`` or ``nonce``.
    attrs: dict[str, str | bool] = Field(default_factory=dict)

    @field_validator("src")
    @classmethod
    def _check_src(cls, value: str | None) -> str | None:
        return None if value is None else _check_src(value)

    @field_validator("inline")
    @classmethod
    def _check_inline(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("script inline code is empty")
        return value

    @field_validator("attrs")
    @classmethod
    def _check_attrs(cls, value: dict[str, str | bool]) -> dict[str, str | bool]:
        checked: dict[str, str | bool] = {}
        for raw, attr in value.items():
            name = raw.lower()
            if not _ATTR_NAME.match(name):
                raise ValueError(
                    f"script attribute {raw!r} is not an attribute name "
                    "(a letter, then letters, digits, '-', '_', '.' or ':')"
                )
            if name.startswith("on"):
                raise ValueError(
                    f"script attribute {raw!r} is an event handler; put the code in a "
                    "Script(inline=...) instead"
                )
            if name in _RESERVED_ATTRS:
                raise ValueError(
                    f"script attribute {raw!r} is set by consentkit "
                    "(use Script(src=...) for the URL; the type is how consent holds it back)"
                )
            if name in checked:
                raise ValueError(f"script attribute {raw!r} is given twice")
            checked[name] = attr
        return checked

    @model_validator(mode="after")
    def _one_source(self) -> Script:
        if (self.src is None) == (self.inline is None):
            raise ValueError("a Script needs exactly one of src=... and inline=...")
        return self

    @property
    def host(self) -> str | None:
        """The host the script loads from, ``None`` for inline code or a path on the site."""
        return None if self.src is None else script_host(self.src)


class Cookie(_Model):
    """One cookie a category may set.

    ``name`` is the exact cookie name, or a prefix followed by ``*``
    (``"_ga*"`` matches ``_ga`` and ``_ga_XYZ``).
    """

    name: str
    provider: str | None = None
    purpose: str = ""
    duration: str = ""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _COOKIE_NAME.match(value):
            raise ValueError(
                f"cookie name {value!r} is not a valid cookie name "
                "(RFC 6265 token characters, optionally ending in '*')"
            )
        return value

    def matches(self, name: str) -> bool:
        """Whether a cookie called ``name`` is this declared cookie."""
        if self.name.endswith("*"):
            return name.startswith(self.name[:-1])
        return name == self.name


class Category(_Model):
    """A purpose the visitor can accept or refuse, with the cookies it uses.

    Required categories (``required=True``) are always granted and cannot be
    refused. ``gpc_opt_out`` categories are refused when the browser sends
    Global Privacy Control (``Sec-GPC: 1``).
    """

    key: str
    label: str
    description: str = ""
    required: bool = False
    cookies: Annotated[Sequence[Cookie], _TUPLE] = ()
    gpc_opt_out: bool = True
    #: Third-party hosts this category's content loads from (``www.youtube.com``,
    #: ``*.ytimg.com``, optionally with ``:port``); with ``ConsentConfig.csp`` on, pages
    #: allow them only once the category is granted; with ``ConsentConfig.auto_block`` their
    #: tags are held back until then.
    hosts: Annotated[Sequence[str], _TUPLE] = ()
    #: Under the ``us_opt_out`` regime: the category sells or shares personal information
    #: (advertising, cross-site tracking), so it is on until the visitor opts out.
    sale_or_share: bool = False
    #: Scripts inserted into every page: live once the category is granted, inert before
    #: (see docs/adding-tags.md).
    scripts: Annotated[Sequence[Script], _TUPLE] = ()

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                f"category key {value!r} must be a lowercase slug "
                "(a letter, then letters, digits, '-' or '_', at most 40 characters)"
            )
        return value

    @field_validator("hosts")
    @classmethod
    def _check_hosts(cls, value: Sequence[str]) -> tuple[str, ...]:
        return _check_hosts(value, "hosts")

    @model_validator(mode="after")
    def _required_is_not_gpc(self) -> Category:
        if self.required and self.gpc_opt_out:
            # A required category is always granted, so GPC cannot opt out of it.
            object.__setattr__(self, "gpc_opt_out", False)
        return self


class AnalyticsConfig(_Model):
    """Consent-gated first-party analytics.

    ``sections`` maps a path rule (a prefix such as ``"/reports"`` or a glob
    such as ``"/reports/*/annex"``) to a section name; the first rule that
    matches wins, otherwise the first path segment names the section.
    """

    category: str = "analytics"
    sections: Annotated[Sequence[tuple[str, str]], _TUPLE] | Mapping[str, str] = ()
    exclude: Annotated[Sequence[str], _TUPLE] = ()
    count_without_consent: bool = False
    retention_days: int = Field(default=760, ge=1, le=3650)
    cookie_name: str = "consentkit_visitor"
    cookie_max_age: timedelta = timedelta(days=395)
    flush_interval: float = Field(default=2.0, gt=0)
    batch_size: int = Field(default=5000, ge=1)
    queue_size: int = Field(default=100_000, ge=1)
    bot_pattern: str = (
        r"bot|crawl|spider|slurp|facebookexternalhit|headless|lighthouse|preview|"
        r"monitor|curl|wget|python-requests|httpx|go-http-client|java/"
    )

    @field_validator("sections", mode="before")
    @classmethod
    def _sections_as_pairs(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return tuple(value.items())
        return value

    @property
    def section_rules(self) -> tuple[tuple[str, str], ...]:
        """The section rules as ordered (rule, section) pairs."""
        sections = self.sections
        return tuple(sections.items() if isinstance(sections, Mapping) else sections)

    @field_validator("cookie_name")
    @classmethod
    def _check_cookie_name(cls, value: str) -> str:
        if not _COOKIE_NAME.match(value) or value.endswith("*"):
            raise ValueError(f"cookie_name {value!r} is not a valid cookie name")
        return value

    @field_validator("cookie_max_age")
    @classmethod
    def _cookie_lifetime(cls, value: timedelta) -> timedelta:
        if value > MAX_CONSENT_LIFETIME:
            raise ValueError("the analytics cookie may live at most 13 months (395 days)")
        if value <= timedelta(0):
            raise ValueError("the analytics cookie lifetime must be positive")
        return value


class ConsentConfig(_Model):
    """Everything consentkit needs to know about a site.

    Secret keys come from ``secret_keys`` (the first signs, all verify, so keys
    can be rotated), ``secret_key``, or the ``CONSENTKIT_SECRET_KEYS``
    environment variable (comma-separated).
    """

    secret_keys: Annotated[Sequence[str], _TUPLE] = ()
    secret_key: str | None = None
    policy_version: str = "1"
    categories: Annotated[Sequence[Category], _TUPLE]
    storage: str = "sqlite:///consentkit.db"
    analytics: AnalyticsConfig | None = None

    cookie_name: str = "consentkit"
    cookie_domain: str | None = None
    cookie_path: str = "/"
    #: ``None``: ``Secure`` exactly when the request came over https.
    cookie_secure: bool | None = None
    consent_lifetime: timedelta = DEFAULT_CONSENT_LIFETIME

    prefix: str = "/consent"
    privacy_path: str = "/privacy"
    undeclared_cookies: Literal["allow", "warn", "block"] = "allow"

    insert_snippet: bool = True
    #: Folders searched for templates (``consentkit/privacy.html`` ...) before the package's own.
    template_dirs: Annotated[Sequence[str], _TUPLE] = ()
    insert_banner: bool = True
    #: After a decision, a small "Cookie settings" link at the end of every page that reopens
    #: the preferences (the privacy page without JavaScript). Its label is the ``reopen_button``
    #: text (override it per language in ``texts``).
    reopen_button: bool = True
    #: Where the reopen button floats on screens at least 48em (768 px) wide; narrower
    #: screens show it in the page's flow after its content, where it covers nothing.
    reopen_position: Literal["bottom-right", "bottom-left"] = "bottom-right"
    default_language: str = "en"
    #: The languages offered to visitors; default: every language consentkit ships.
    languages: Annotated[Sequence[str], _TUPLE] = Field(
        default_factory=lambda: tuple(shipped_languages().values())
    )
    #: Per-language text overrides: ``{"en": {"banner_title": "Cookies"}}``.
    texts: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Google Consent Mode v2: category key -> consent types it grants.
    google_consent_mode: dict[str, Annotated[Sequence[str], _TUPLE]] | None = None
    #: ``callable(scope) -> str | None`` giving the CSP nonce of a request;
    #: otherwise ``scope["state"]["csp_nonce"]`` is used when present.
    csp_nonce: Callable[[Any], str | None] | None = None

    #: How the visitor's IP is kept in the consent log: never raw.
    ip: Literal["truncate", "none", "hash"] = "truncate"
    #: Proxies whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed.
    trusted_proxies: Annotated[Sequence[str], _TUPLE] = ()
    #: Key for the consent log's HMAC chain; default: derived from the first secret key.
    log_key: str | None = None
    #: Ed25519 private key file (``consentkit log keygen``) that signs each committed batch's
    #: chain head and every checkpoint; default: ``CONSENTKIT_LOG_SIGNING_KEY``, else a key
    #: derived from the log key.
    log_signing_key: str | None = None
    #: Seconds between automatic signed checkpoints of the log (0: only on demand).
    log_checkpoint_interval: float = Field(default=60.0, ge=0)
    #: Where checkpoints go besides the database: a file path (JSON Lines), an http(s) URL
    #: (POST) or ``exec:COMMAND`` (stdin). Pick one the operator of the site does not control.
    log_checkpoint_sink: str | None = None
    #: ``callable(request) -> bool`` or ``("user", "password")`` for basic auth.
    dashboard_auth: DashboardAuth | tuple[str, str] | None = None
    #: How many verified tokens, parsed Cookie headers and GPC overrides are kept in memory.
    token_cache_size: int = Field(default=10_000, ge=0)
    #: Content-Security-Policy by consent: ``"off"``, ``"report-only"`` (nothing is blocked,
    #: every would-be block is reported) or ``"enforce"`` (browsers refuse the hosts of
    #: categories the visitor has not granted).
    csp: Literal["off", "report-only", "enforce"] = "off"
    #: Hosts every page may use whatever the consent (your CDN, web fonts), in the syntax
    #: of ``Category.hosts``.
    csp_always_allow: Annotated[Sequence[str], _TUPLE] = ()
    #: The fetch directives the consent policy governs.
    csp_directives: Annotated[Sequence[str], _TUPLE] = CSP_DEFAULT_DIRECTIVES
    #: Ask browsers to report what the consent policy blocks, at ``{prefix}/csp-report``.
    csp_reports: bool = True
    #: Violation reports accepted per second by each process; more get 429.
    csp_report_rate: float = Field(default=50.0, gt=0, le=100_000)
    #: Which consent regime applies where, most specific match first; empty: ``opt_in``
    #: for every visitor.
    regions: Annotated[Sequence[Region], _TUPLE] = ()
    #: Where the visitor's region comes from: CDN headers (``CloudflareHeaders()``,
    #: ``HeaderRegion(...)``, ...) and/or ``GeoIPDatabase(path)``, combined with ``|`` (the
    #: first that knows wins); ``None``: every visitor gets the default rule.
    region_source: RegionSource | None = None
    #: Google Consent Mode: ask Google's tags to redact ad click identifiers while
    #: ``ad_storage`` is denied (``gtag('set', 'ads_data_redaction', true)``).
    google_ads_data_redaction: bool = False
    #: Google Consent Mode: pass ad click information in link URLs while storage is denied
    #: (``gtag('set', 'url_passthrough', true)``).
    google_url_passthrough: bool = False
    #: Gate the ``<script src>``, ``<iframe src>`` and ``<img src>`` tags of every optional
    #: category's ``hosts`` in the HTML pages consentkit inserts into, until the visitor
    #: grants that category; blocked iframes get a placeholder that grants it.
    auto_block: bool = False

    if not TYPE_CHECKING:  # type checkers keep the signature pydantic synthesises

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as error:
                raise _without_inputs(error) from None

    @field_validator("categories", mode="after")
    @classmethod
    def _check_categories(cls, value: Sequence[Category]) -> Sequence[Category]:
        if not value:
            raise ValueError("declare at least one category")
        seen: set[str] = set()
        owner: dict[str, str] = {}
        for category in value:
            if category.key in seen:
                raise ValueError(f"category key {category.key!r} is declared twice")
            seen.add(category.key)
            for cookie in category.cookies:
                if cookie.name in owner:
                    raise ValueError(
                        f"cookie {cookie.name!r} is declared in both "
                        f"{owner[cookie.name]!r} and {category.key!r}"
                    )
                owner[cookie.name] = category.key
        return value

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: Sequence[Region]) -> Sequence[Region]:
        check_rules(value)
        return value

    @model_validator(mode="after")
    def _check_region_source(self) -> ConsentConfig:
        placed = [c for rule in self.regions for c in rule.match if c != "*"]
        if placed and self.region_source is None:
            raise ValueError(
                f"regions: a rule names {placed[0]!r} but no region_source says where "
                "visitors are; set region_source (CloudflareHeaders(), GeoIPDatabase(...), ...)"
            )
        problem = proxies_needed(self.region_source, self.trusted_proxies)
        if problem:
            raise ValueError(problem)
        return self

    @field_validator("csp_always_allow")
    @classmethod
    def _check_always_allow(cls, value: Sequence[str]) -> tuple[str, ...]:
        return _check_hosts(value, "csp_always_allow")

    @field_validator("csp_directives")
    @classmethod
    def _check_directives(cls, value: Sequence[str]) -> tuple[str, ...]:
        directives = tuple(dict.fromkeys(d.strip().lower() for d in value))
        unknown = [d for d in directives if d not in CSP_GOVERNABLE]
        if unknown:
            raise ValueError(
                f"csp_directives: {unknown[0]!r} is not a fetch directive consentkit can "
                f"govern; choose from {list(CSP_GOVERNABLE)}"
            )
        if not directives:
            raise ValueError("csp_directives must name at least one directive")
        return directives

    @field_validator("consent_lifetime")
    @classmethod
    def _check_lifetime(cls, value: timedelta) -> timedelta:
        if value > MAX_CONSENT_LIFETIME:
            raise ValueError(
                f"consent_lifetime {value.days} days is over 13 months "
                f"({MAX_CONSENT_LIFETIME.days} days), the longest a choice may be kept"
            )
        if value < timedelta(minutes=1):
            raise ValueError("consent_lifetime must be at least a minute")
        return value

    @field_validator("storage")
    @classmethod
    def _check_storage(cls, value: str) -> str:
        try:
            parse_storage_url(value)
        except StorageError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("prefix", "privacy_path", "cookie_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/") or (len(value) > 1 and value.endswith("/")):
            raise ValueError(f"path {value!r} must start with '/' and not end with '/'")
        if not _PATH.match(value):
            raise ValueError(f"path {value!r} may hold only URL path characters (no ';' or spaces)")
        return value

    @field_validator("cookie_domain")
    @classmethod
    def _check_domain(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN.match(value):
            raise ValueError(f"cookie_domain {value!r} is not a domain name such as 'example.org'")
        return value

    @field_validator("cookie_name")
    @classmethod
    def _check_cookie_name(cls, value: str) -> str:
        if not _COOKIE_NAME.match(value) or value.endswith("*"):
            raise ValueError(f"cookie_name {value!r} is not a valid cookie name")
        return value

    @model_validator(mode="after")
    def _check_keys(self) -> ConsentConfig:
        keys = list(self.secret_keys)
        if self.secret_key:
            keys.insert(0, self.secret_key)
        if not keys:
            from_env = os.environ.get("CONSENTKIT_SECRET_KEYS", "")
            keys = [k.strip() for k in from_env.split(",") if k.strip()]
        if not keys:
            raise ValueError("no secret key: pass secret_keys=[...] or set CONSENTKIT_SECRET_KEYS")
        for index, key in enumerate(keys):
            if len(key.encode()) < MIN_KEY_BYTES:
                raise ValueError(
                    f"secret key #{index + 1} is {len(key.encode())} bytes; "
                    f"use at least {MIN_KEY_BYTES} random bytes"
                )
        object.__setattr__(self, "secret_keys", tuple(keys))
        object.__setattr__(self, "secret_key", None)
        if self.analytics is not None and self.analytics.category not in {
            c.key for c in self.categories
        }:
            raise ValueError(
                f"analytics.category {self.analytics.category!r} is not a declared category"
            )
        languages, texts = check_texts(self.languages, self.texts)
        default = shipped_languages().get(self.default_language.lower(), self.default_language)
        if default not in languages:
            raise ValueError(f"default_language {self.default_language!r} is not in languages")
        object.__setattr__(self, "languages", languages)
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "default_language", default)
        self._check_csp()
        if not (self.insert_snippet or self.insert_banner) and any(
            c.scripts for c in self.categories
        ):
            raise ValueError(
                "categories declare scripts, but insert_snippet and insert_banner are both "
                "off, so consentkit inserts nothing into pages: turn one on"
            )
        self._check_auto_block()
        return self

    def _check_auto_block(self) -> None:
        if not self.auto_block:
            return
        if not any(c.hosts and not c.required for c in self.categories):
            raise ValueError(
                "auto_block=True needs hosts to block: list them in the hosts of an optional "
                "category (Category(key='marketing', ..., hosts=['www.youtube.com']))"
            )
        if not (self.insert_snippet or self.insert_banner):
            raise ValueError(
                "auto_block=True rewrites the pages consentkit inserts into, but "
                "insert_snippet and insert_banner are both off"
            )

    def _check_csp(self) -> None:
        always = set(self.csp_always_allow)
        for category in self.categories:
            clash = sorted(always.intersection(category.hosts))
            if clash and not category.required:
                raise ValueError(
                    f"host {clash[0]!r} is in csp_always_allow and in category "
                    f"{category.key!r}: a visitor could not refuse it"
                )
        if self.csp == "off":
            return
        reserved = [c.key for c in self.categories if c.key in ("none", "undecided")]
        if reserved:
            raise ValueError(
                f"category key {reserved[0]!r} is a consent state name in CSP reports; "
                "rename the category to use csp"
            )
        from consentkit.csp.policy import MAX_HEADER_BYTES, longest_policy

        size = longest_policy(self)
        if size > MAX_HEADER_BYTES:
            raise ValueError(
                f"the consent Content-Security-Policy would be {size} bytes with every "
                f"category granted; keep it under {MAX_HEADER_BYTES} (use '*.' wildcards)"
            )

    @model_validator(mode="after")
    def _check_consent_mode(self) -> ConsentConfig:
        if not self.google_consent_mode:
            return self
        keys = {c.key for c in self.categories}
        if not any(c.required for c in self.categories):
            keys.add("necessary")  # the category consentkit adds for its own cookie
        for key, types in self.google_consent_mode.items():
            if key not in keys:
                raise ValueError(
                    f"google_consent_mode: {key!r} is not a declared category "
                    f"(declared: {', '.join(sorted(keys))})"
                )
            for kind in types:
                if kind not in CONSENT_MODE_TYPES:
                    raise ValueError(
                        f"google_consent_mode[{key!r}]: {kind!r} is not a Google consent type "
                        f"(known: {', '.join(sorted(CONSENT_MODE_TYPES))})"
                    )
        if any(rule.regime == "us_opt_out" for rule in self.regions):
            sale = {c.key for c in self.categories if c.sale_or_share}
            for key, types in self.google_consent_mode.items():
                ads = sorted(CONSENT_MODE_AD_TYPES.intersection(types))
                if ads and key not in sale:
                    raise ValueError(
                        f"google_consent_mode[{key!r}] maps {ads[0]!r} but category {key!r} "
                        "is not sale_or_share: under us_opt_out an opt-out must deny "
                        f"{', '.join(sorted(CONSENT_MODE_AD_TYPES))}, so map them only from "
                        "categories with sale_or_share=True"
                    )
        return self

    def __repr__(self) -> str:
        # Never show secrets in tracebacks or logs.
        return (
            f"ConsentConfig(policy_version={self.policy_version!r}, "
            f"categories={[c.key for c in self.categories]!r}, storage=<{self.storage_scheme}>)"
        )

    __str__ = __repr__

    @property
    def storage_scheme(self) -> str:
        """The storage URL's scheme, normalised: ``sqlite`` or ``postgresql``."""
        return parse_storage_url(self.storage).scheme
