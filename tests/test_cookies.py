"""Cookie header parsing and the category of each cookie name."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consentkit.cookies import CookiePolicy, expire_cookie, parse_cookie_header
from tests.conftest import categories


def test_parse_cookie_header() -> None:
    assert parse_cookie_header('a=1; b="two"; c=; =x; junk; a=shadowed') == {
        "a": "1",
        "b": "two",
        "c": "",
    }
    assert parse_cookie_header("") == {}


@given(st.text(max_size=500))
def test_parse_never_raises(header: str) -> None:
    assert isinstance(parse_cookie_header(header), dict)


def test_categories_of_names() -> None:
    policy = CookiePolicy(categories())
    assert policy.category_of("session") == "necessary"
    assert policy.category_of("_ga") == "analytics"
    assert policy.category_of("_ga_ABC") == "analytics"
    assert policy.category_of("ads") == "marketing"
    assert policy.category_of("adsx") is None
    assert policy.allows("ads", frozenset({"necessary", "marketing"}))
    assert not policy.allows("ads", frozenset({"necessary"}))


def test_longest_prefix_wins() -> None:
    from consentkit import Category, Cookie

    policy = CookiePolicy(
        [
            Category(key="a", label="A", cookies=[Cookie(name="_g*")]),
            Category(key="b", label="B", cookies=[Cookie(name="_ga*")]),
        ]
    )
    assert policy.category_of("_gx") == "a" and policy.category_of("_ga1") == "b"


def test_withdrawal_names() -> None:
    policy = CookiePolicy(categories())
    assert policy.withdrawal_names({"_ga_1": "x", "session": "y"}) == ["_ga_1", "ads"]


def test_expiries_cover_the_cookie_domain() -> None:
    policy = CookiePolicy(categories(), cookie_domain="example.org")
    values = policy.expiries(["ads"])
    assert values == [expire_cookie("ads"), expire_cookie("ads", domain="example.org")]
    assert b"Max-Age=0" in values[0] and b"Domain=example.org" in values[1]
