"""Sealing writes a record's canonical form directly: byte for byte the reference encoding."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentkit.log import Decision, derive_log_key
from consentkit.log.chain import Chain, record_leaf
from consentkit.log.merkle import tree_hash
from consentkit.log.record import categories_json
from consentkit.log.signing import derive_signing_key

KEY = derive_log_key("s" * 32)
SIGNER = derive_signing_key(KEY.secret)
NOW = datetime(2026, 12, 1, 6, 43, 45, 123456, tzinfo=timezone.utc)
TEXT = st.text(max_size=40)
OPTIONAL_TEXT = st.none() | TEXT
KEYS = st.lists(st.text(min_size=1, max_size=12), max_size=4, unique=True).map(tuple)

decisions = st.builds(
    Decision,
    consent_id=TEXT,
    action=TEXT,
    granted=KEYS,
    denied=KEYS,
    policy_version=TEXT,
    declaration_hash=TEXT,
    declaration_json=st.just("{}"),
    language=TEXT,
    surface=TEXT,
    path=TEXT,
    ip=OPTIONAL_TEXT,
    user_agent=TEXT,
    gpc=st.booleans(),
    decision_id=OPTIONAL_TEXT,
    site_host=OPTIONAL_TEXT,
    lifetime=st.none() | st.integers(min_value=0, max_value=10**9),
    regime=OPTIONAL_TEXT,
    region=OPTIONAL_TEXT,
    region_source=OPTIONAL_TEXT,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(decisions, min_size=1, max_size=3))
def test_sealed_records_have_the_reference_canonical_form(batch: list[Decision]) -> None:
    # The MAC and the Merkle leaves were computed from the bytes sealing wrote;
    # ``canonical()`` is the reference encoding verification uses.
    chain = Chain(KEY, signer=SIGNER)
    records = chain.seal_batch(batch, NOW)
    assert all(record.mac == KEY.mac(record) for record in records)
    assert chain.pending is not None
    assert chain.pending.head.root == tree_hash([record_leaf(r) for r in records]).hex()


def test_sealed_record_with_every_kind_of_character_verifies() -> None:
    odd = 'quote " backslash \\ tab \t newline \n nul \x00 del \x7f é ☃ 𝄞 \u2028'
    decision = Decision(
        consent_id=odd,
        action="custom",
        granted=(odd, "necessary"),
        denied=(),
        policy_version=odd,
        declaration_hash="d" * 64,
        declaration_json="{}",
        language="de",
        surface="api",
        path=odd,
        ip=None,
        user_agent=odd,
        gpc=True,
        decision_id="a" * 32,
        site_host="example.org",
        lifetime=86400,
        regime="opt_in",
        region="DE",
        region_source="header:cf-ipcountry",
    )
    (record,) = Chain(KEY).seal_batch([decision], NOW)
    assert record.mac == KEY.mac(record)
    assert b'"ip":null' in record.canonical()
    assert record.expires_at == "2026-12-02T06:43:45.123456+00:00"


@pytest.mark.parametrize("bad", [{"path": None}, {"granted": (1,)}, {"decision_id": 7}])
def test_a_value_of_the_wrong_type_is_refused_not_encoded_otherwise(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "consent_id": "c",
        "action": "accept_all",
        "granted": ("necessary",),
        "denied": (),
        "policy_version": "1",
        "declaration_hash": "d",
        "declaration_json": "{}",
        "language": "en",
        "surface": "api",
        "path": "/",
        "ip": None,
        "user_agent": "",
        "gpc": False,
    }
    with pytest.raises(TypeError):
        Chain(KEY).seal_batch([Decision(**{**fields, **bad})], NOW)  # type: ignore[arg-type]


def test_stored_categories_are_a_json_list() -> None:
    assert categories_json(("analytics", "necessary")) == '["analytics", "necessary"]'
    assert categories_json(()) == "[]"
