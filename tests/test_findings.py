"""The findings model and JSON schema `consentkit audit` and `consentkit scan` share."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentkit.findings import KINDS, UNCLASSIFIED, Finding, envelope, schema
from tests.test_audit import audit_json

jsonschema = pytest.importorskip("jsonschema")


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_envelope_counts_and_orders_findings() -> None:
    findings = [
        Finding("stale", "cookie", "b", "analytics", UNCLASSIFIED, "stale b"),
        Finding("leak", "request", "t.example", "unknown", UNCLASSIFIED, "leak", domain="x"),
        Finding("leak", "cookie", "a", "unknown", UNCLASSIFIED, "leak a", visitors=["z", "a"]),
    ]
    document = envelope("scan", False, findings)
    jsonschema.Draft202012Validator(schema()).validate(document)
    assert [(f["kind"], f["name"]) for f in document["findings"]] == [
        ("leak", "a"), ("leak", "t.example"), ("stale", "b")
    ]  # fmt: skip
    assert document["findings"][0]["visitors"] == ["a", "z"]
    assert document["counts"] == {k: {"leak": 2, "stale": 1}.get(k, 0) for k in KINDS}


def test_unknown_kind_or_item_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        Finding("bad", "cookie", "a", "x", UNCLASSIFIED, "")
    with pytest.raises(ValueError, match="item"):
        Finding("leak", "pixel", "a", "x", UNCLASSIFIED, "")


@pytest.mark.parametrize(
    ("spec", "kinds"),
    [
        ("audit_apps.clean:app", set()),
        ("audit_apps.leaky_undeclared:app", {"leak", "undeclared", "stale"}),
        ("audit_apps.leaky_embeds:app", {"leak", "stale"}),
        ("audit_apps.stale:app", {"stale"}),
    ],
)
def test_audit_json_uses_the_shared_model(tmp_path: Path, spec: str, kinds: set[str]) -> None:
    code, report = audit_json(tmp_path, spec, "--crawl", "3")
    jsonschema.Draft202012Validator(schema()).validate(report)
    assert report["tool"] == "audit" and report["schema_version"] == 1
    assert {f["kind"] for f in report["findings"]} == kinds
    assert report["ok"] is (code == 0)
    # The audit's own sections are still there, unchanged.
    cookie_leaks = [f for f in report["findings"] if f["kind"] == "leak" and f["item"] == "cookie"]
    assert len(report["leaks"]) == sum(len(f["visitors"]) for f in cookie_leaks)
    embeds = [f for f in report["findings"] if f["item"] == "embed"]
    assert [e["name"] for e in embeds] == sorted(e["src"] for e in report["ungated_embeds"])
