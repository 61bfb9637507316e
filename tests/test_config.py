"""ConsentConfig validates at construction, with messages that name the problem."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from consentkit import AnalyticsConfig, Category, ConsentConfig, Cookie, Script
from tests.conftest import KEY, categories


def test_valid_config_keeps_declaration(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config()
    assert config.secret_keys == (KEY,)
    assert config.consent_lifetime == timedelta(days=182)
    assert config.storage_scheme == "sqlite"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret_keys": []}, "no secret key"),
        ({"secret_keys": ["short"]}, "use at least 32 random bytes"),
        ({"secret_keys": [KEY, "x" * 31]}, "secret key #2 is 31 bytes"),
        (
            {"categories": [*categories(), Category(key="analytics", label="Again")]},
            "category key 'analytics' is declared twice",
        ),
        ({"consent_lifetime": timedelta(days=400)}, "over 13 months"),
        (
            {
                "categories": [
                    *categories(),
                    Category(key="extra", label="Extra", cookies=[Cookie(name="ads")]),
                ]
            },
            "cookie 'ads' is declared in both 'marketing' and 'extra'",
        ),
        ({"storage": "redis://localhost/0"}, "unknown storage scheme 'redis'"),
        ({"storage": "consentkit.db"}, "has no scheme"),
        ({"storage": "sqlite://relative.db"}, "must look like"),
        ({"categories": []}, "declare at least one category"),
        ({"prefix": "consent"}, "must start with '/'"),
        ({"undeclared_cookies": "sometimes"}, "undeclared_cookies"),
        ({"default_language": "xx"}, "default_language 'xx' is not in languages"),
        ({"analytics": AnalyticsConfig(category="stats")}, "'stats' is not a declared category"),
    ],
)
def test_bad_config_is_refused_clearly(
    make_config: Callable[..., ConsentConfig], overrides: dict[str, object], message: str
) -> None:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv("CONSENTKIT_SECRET_KEYS", raising=False)
    with pytest.raises(ValidationError, match=message):
        make_config(**overrides)
    monkeypatch.undo()


@pytest.mark.parametrize("key", ["Analytics", "1st", "with space", "", "a" * 41])
def test_category_keys_are_lowercase_slugs(key: str) -> None:
    with pytest.raises(ValidationError, match="lowercase slug"):
        Category(key=key, label="x")


@pytest.mark.parametrize("name", ["bad name", "semi;colon", "a*b", "", "é"])
def test_cookie_names_are_tokens(name: str) -> None:
    with pytest.raises(ValidationError, match="not a valid cookie name"):
        Cookie(name=name)


def test_keys_from_environment(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTKIT_SECRET_KEYS", f" {KEY} , {'n' * 32} ")
    config = make_config(secret_keys=[])
    assert config.secret_keys == (KEY, "n" * 32)


def test_single_secret_key_signs_first(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(secret_keys=["o" * 32], secret_key="s" * 32)
    assert config.secret_keys == ("s" * 32, "o" * 32)


def test_repr_never_shows_secrets(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(log_key="L" * 40)
    assert KEY not in repr(config) and KEY not in str(config)
    assert "L" * 40 not in repr(config)


def test_required_category_is_never_gpc_opt_out() -> None:
    assert Category(key="necessary", label="N", required=True).gpc_opt_out is False


def test_prefix_cookie_matching() -> None:
    cookie = Cookie(name="_ga*")
    assert cookie.matches("_ga") and cookie.matches("_ga_ABC")
    assert not cookie.matches("ga")
    assert Cookie(name="ads").matches("ads") and not Cookie(name="ads").matches("ads2")


_SHORT_SECRET = "Kx9Qw2L-short-secret"
_PASSWORD = "dashboard-pa55word-9876"
_LOG_KEY = "log-key-material-0123456789abcdef-XYZ"


@pytest.mark.parametrize(
    "overrides",
    [
        {"secret_keys": [_SHORT_SECRET]},
        {"secret_keys": [KEY, _SHORT_SECRET]},
        {"secret_key": _SHORT_SECRET},
        {"dashboard_auth": ("admin", _PASSWORD), "undeclared_cookies": "sometimes"},
        {"log_key": _LOG_KEY, "consent_lifetime": "not a duration"},
        {"log_key": _LOG_KEY, "secret_keys": [_SHORT_SECRET], "categories": []},
    ],
)
def test_no_part_of_a_secret_in_config_errors(
    make_config: Callable[..., ConsentConfig], overrides: dict[str, object]
) -> None:
    import traceback

    with pytest.raises(ValidationError) as caught:
        make_config(**overrides)
    error = caught.value
    shown = "\n".join(
        [
            str(error),
            repr(error),
            repr(error.errors()),
            error.json(),
            "".join(traceback.format_exception(error)),
        ]
    )
    for secret in (_SHORT_SECRET, _PASSWORD, _LOG_KEY, KEY):
        for start in range(0, len(secret) - 5, 3):
            assert secret[start : start + 6] not in shown, shown


def test_no_part_of_a_secret_from_the_environment_in_errors(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTKIT_SECRET_KEYS", _SHORT_SECRET)
    with pytest.raises(ValidationError, match="secret key #1 is 20 bytes") as caught:
        make_config(secret_keys=[])
    assert "Kx9Qw2" not in str(caught.value) + repr(caught.value.errors())


def test_repr_of_a_config_shows_no_secret(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(log_key=_LOG_KEY, dashboard_auth=("admin", _PASSWORD))
    for shown in (repr(config), str(config), f"{config}", f"{config!r}"):
        for secret in (KEY, _LOG_KEY, _PASSWORD):
            assert secret[:8] not in shown


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"stats": ["analytics_storage"]},
            "google_consent_mode: 'stats' is not a declared category",
        ),
        (
            {"analytics": ["analytic_storage"]},
            "'analytic_storage' is not a Google consent type",
        ),
    ],
)
def test_consent_mode_mapping_is_checked(
    make_config: Callable[..., ConsentConfig], mapping: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_config(google_consent_mode=mapping)


def test_consent_mode_mapping_accepts_declared_categories(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(
        google_consent_mode={
            "analytics": ["analytics_storage"],
            "marketing": ["ad_storage", "ad_user_data", "ad_personalization"],
        }
    )
    assert config.google_consent_mode is not None
    assert config.google_consent_mode["marketing"] == (
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
    )


# --- Category.scripts (issue #17) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("", "script src is empty"),
        ("javascript:alert(1)", "has the scheme 'javascript'"),
        ("JavaScript:alert(1)", "has the scheme 'JavaScript'"),
        ("data:text/javascript,alert(1)", "has the scheme 'data'"),
        ("vbscript:x", "has the scheme 'vbscript'"),
        ("ftp://files.example.com/a.js", "has the scheme 'ftp'"),
        (" https://cdn.example.com/a.js", "contains whitespace or a control character"),
        ("https://cdn.example.com/a b.js", "contains whitespace or a control character"),
        ("https://cdn.example.com/a.js\n", "contains whitespace or a control character"),
        ("https://cdn.example.com/\x00.js", "contains whitespace or a control character"),
        ("/\\evil.example/a.js", "contains a backslash"),
        ("//cdn.example.com/a.js", "is protocol-relative; write 'https://cdn.example.com/a.js'"),
        ("js/app.js", "is a relative path"),
        ("app.js", "is a relative path"),
        ("https:/cdn.example.com/a.js", "has no valid host name"),
        ("https://", "has no valid host name"),
        ("https://user:pw@cdn.example.com/a.js", "has user information before its host"),
        ("https://*.example.com/a.js", "has no valid host name"),
        ("https://exa mple.com/", "contains whitespace"),
    ],
)
def test_malformed_script_src_gets_a_clear_error(src: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Script(src=src)


@pytest.mark.parametrize(
    "src",
    [
        "https://www.googletagmanager.com/gtag/js?id=G-X1",
        "http://localhost:8000/a.js",
        "HTTPS://CDN.Example.com/a.js#x",
        "/static/app.js?v=3",
        "/",
    ],
)
def test_script_src_accepts_http_urls_and_root_paths(src: str) -> None:
    assert Script(src=src).src == src


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"onload": "x()"}, "'onload' is an event handler"),
        ({"OnError": "x()"}, "'OnError' is an event handler"),
        ({"type": "module"}, "'type' is set by consentkit"),
        ({"src": "/a.js"}, "'src' is set by consentkit"),
        ({"SRC": "/a.js"}, "'SRC' is set by consentkit"),
        ({"nonce": "abc"}, "'nonce' is set by consentkit"),
        ({"data-consent": "ads"}, "'data-consent' is set by consentkit"),
        ({"data-type": "module"}, "'data-type' is set by consentkit"),
        ({"a b": "1"}, "'a b' is not an attribute name"),
        ({'x"': "1"}, "is not an attribute name"),
        ({"x>": "1"}, "'x>' is not an attribute name"),
        ({"": "1"}, "'' is not an attribute name"),
        ({"1x": "1"}, "'1x' is not an attribute name"),
        ({"async": True, "ASYNC": True}, "'ASYNC' is given twice"),
    ],
)
def test_malformed_script_attrs_get_a_clear_error(attrs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Script(src="/a.js", attrs=attrs)


def test_script_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match=re.escape("exactly one of src=... and inline=...")):
        Script()
    with pytest.raises(ValidationError, match=re.escape("exactly one of src=... and inline=...")):
        Script(src="/a.js", inline="x()")
    with pytest.raises(ValidationError, match="script inline code is empty"):
        Script(inline="  \n")
    with pytest.raises(ValidationError, match="placement"):
        Script(inline="x()", placement="footer")  # type: ignore[arg-type]


def test_script_attrs_are_lowercased_and_its_host_known() -> None:
    script = Script(src="https://CDN.example.com:8443/a.js", attrs={"CrossOrigin": "anonymous"})
    assert script.attrs == {"crossorigin": "anonymous"}
    assert script.host == "cdn.example.com"
    assert Script(src="/a.js").host is None
    assert Script(inline="x()").host is None


def test_scripts_need_insertion(make_config: Callable[..., ConsentConfig]) -> None:
    scripted = [*categories()[:1], Category(key="ads", label="Ads", scripts=[Script(src="/a.js")])]
    with pytest.raises(ValidationError, match="insert_snippet and insert_banner are both off"):
        make_config(categories=scripted, insert_snippet=False, insert_banner=False)
    assert make_config(categories=scripted, insert_snippet=False).categories[1].scripts


def test_reopen_position_is_checked(make_config: Callable[..., ConsentConfig]) -> None:
    with pytest.raises(ValidationError, match="reopen_position"):
        make_config(reopen_position="top-middle")
