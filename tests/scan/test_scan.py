"""``consentkit scan`` against real Chromium: the leaky and clean fixture sites, and the demo."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consentkit import ConsentConfig
from consentkit.findings import schema
from tests.scan.conftest import CHROMIUM, Scan, Site, run_scan

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_script_set_analytics_cookie_leaks_before_consent(
    leaky_scan: Scan, leaky_site: Site
) -> None:
    assert leaky_scan.status == 1
    leak = leaky_scan.findings("leak")[("cookie", "_ga")]
    assert leak["category"] == "analytics"
    assert leak["classification"]["source"] == "declaration"
    assert {"undecided", "reject_all", "only_marketing"} <= set(leak["visitors"])
    assert "accept_all" not in leak["visitors"] and "only_analytics" not in leak["visitors"]
    assert f"document.cookie by {leaky_site.url}/js/analytics.js" in leak["sources"]


def test_ungated_iframe_sets_its_own_cookie(leaky_scan: Scan, leaky_site: Site) -> None:
    leak = leaky_scan.findings("leak")[("cookie", "tk_uid")]
    assert leak["domain"] == "tracker.test"
    assert leak["category"] == "unknown"
    assert leak["classification"]["source"] == "unknown"
    assert f"Set-Cookie from http://tracker.test:{leaky_site.port}/frame" in leak["sources"]
    assert f"http://tracker.test:{leaky_site.port}/frame" in leak["frames"]
    assert "undecided" in leak["visitors"]
    assert ("cookie", "tk_uid") in leaky_scan.findings("undeclared")
    frame_request = leaky_scan.findings("leak")[("request", "tracker.test")]
    assert any(s.startswith("document http://tracker.test") for s in frame_request["sources"])
    database = leaky_scan.findings("leak")[("indexeddb", "tk_db")]
    assert database["domain"] == f"http://tracker.test:{leaky_site.port}"


def test_local_storage_pixel_and_beacon_leak(leaky_scan: Scan, leaky_site: Site) -> None:
    leaks = leaky_scan.findings("leak")
    storage = leaks[("local_storage", "chat_widget_state")]
    assert storage["category"] == "unknown" and "undecided" in storage["visitors"]
    assert f"inline script in {leaky_site.url}/" in storage["sources"]
    assert ("local_storage", "chat_widget_state") in leaky_scan.findings("undeclared")
    pixel = leaks[("request", "pixel.test")]
    assert pixel["sources"] == [
        f"image http://pixel.test:{leaky_site.port}/p.gif",
        f"initiated by parser in {leaky_site.url}/",
        f"initiated by parser in {leaky_site.url}/other",
    ]
    assert "reject_all" in pixel["visitors"]
    beacon = leaks[("beacon", "beacon.test")]
    assert f"inline script in {leaky_site.url}/" in beacon["sources"]
    assert f"initiated by script in {leaky_site.url}/" in beacon["sources"]
    assert "undecided" in beacon["visitors"]
    socket = leaks[("websocket", "tracker.test")]
    assert f"inline script in {leaky_site.url}/" in socket["sources"]
    session = leaks[("session_storage", "chat_session")]
    assert session["domain"] == leaky_site.url and "reject_all" in session["visitors"]
    store = leaks[("cookie", "cs_pref")]
    assert f"cookieStore by inline script in {leaky_site.url}/" in store["sources"]


def test_misfiled_cookie(leaky_scan: Scan) -> None:
    misfiled = leaky_scan.findings("misfiled")[("cookie", "mk_pref")]
    assert misfiled["category"] == "marketing"
    assert misfiled["visitors"] == ["only_analytics"]
    assert misfiled["classification"]["source"] == "declaration"
    assert any("consentkit" in s for s in misfiled["sources"])  # the snippet ran the gated script
    assert "only_analytics" in leaky_scan.findings("leak")[("cookie", "mk_pref")]["visitors"]


def test_what_survives_withdrawal(leaky_scan: Scan) -> None:
    kept = leaky_scan.findings("not_removed")
    assert kept[("cookie", "_pa_path")]["category"] == "analytics"
    assert kept[("cookie", "_pa_path")]["visitors"] == ["withdrawal_withdrawn"]
    assert kept[("local_storage", "_pa_store")]["category"] == "analytics"
    # The server expired the declared cookie it could see: only the one on another path stays.
    items = {(i["item"], i["name"]): i for i in leaky_scan.report["items"]}
    assert "withdrawal_withdrawn" not in items[("cookie", "mk_pref")]["visitors"]
    assert items[("cookie", "consentkit")]["classification"]["necessary"] is True


def test_recorded_cookie_attributes(leaky_scan: Scan) -> None:
    items = {(i["item"], i["name"]): i for i in leaky_scan.report["items"]}
    tracker = items[("cookie", "tk_uid")]
    assert tracker["party"] == "third"
    assert tracker["attributes"]["secure"] is True
    assert tracker["attributes"]["same_site"] == "None"
    session = items[("cookie", "session")]["attributes"]
    assert session["http_only"] is True and session["lifetime"] is None
    assert items[("cookie", "_ga")]["attributes"]["lifetime"] == 31536000


def test_json_report_validates_against_the_schema(leaky_scan: Scan) -> None:
    import jsonschema

    document = leaky_scan.report
    jsonschema.Draft202012Validator(schema()).validate(document)
    assert document["tool"] == "scan" and document["ok"] is False
    assert document["counts"]["leak"] == len(leaky_scan.findings("leak"))
    assert "/private/" not in document["pages"]  # robots.txt
    assert {"url": "/private/", "reason": "disallowed by robots.txt"} in document["skipped"]
    assert document["pages"] == ["/", "/other", "/privacy"]


def test_proposed_hosts_per_category(leaky_scan: Scan, leaky_site: Site) -> None:
    port = leaky_site.port
    hosts = leaky_scan.report["hosts"]
    by_key = {c["key"]: c for c in hosts["categories"]}
    assert by_key["analytics"]["declared"] == []
    assert by_key["analytics"]["proposed"] == [
        {"host": f"stats.test:{port}", "seen": ["stats.test"]}
    ]
    assert by_key["marketing"]["declared"] == ["player.video.test:*"]
    assert by_key["marketing"]["proposed"] == [
        {"host": f"*.video.test:{port}", "seen": ["a.video.test", "b.video.test", "c.video.test"]}
    ]
    assert by_key["necessary"]["proposed"] == []
    # The ungated third parties reach every visitor: candidates for csp_always_allow.
    always = [p["host"] for p in hosts["csp_always_allow"]["proposed"]]
    assert {f"pixel.test:{port}", f"tracker.test:{port}"} <= set(always)
    assert not [h for h in always if "stats.test" in h or "video.test" in h]
    # The draft declaration in the bundle builds a configuration with them.
    assert leaky_scan.out is not None
    namespace: dict[str, Any] = {}
    exec((leaky_scan.out / "declaration.py").read_text(), namespace)
    config = ConsentConfig(
        secret_keys=["k" * 32],
        categories=namespace["categories"],
        csp_always_allow=namespace["csp_always_allow"],
        csp="enforce",
    )
    categories = {c.key: c.hosts for c in config.categories}
    assert categories["analytics"] == (f"stats.test:{port}",)
    assert categories["marketing"] == ("player.video.test:*", f"*.video.test:{port}")
    assert f"pixel.test:{port}" in config.csp_always_allow


def test_evidence_bundle_and_manifest(leaky_scan: Scan) -> None:
    assert leaky_scan.out is not None
    out = leaky_scan.out
    listed = {}
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == files - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    states = ["undecided", "reject_all", "accept_all", "only_analytics", "only_marketing"]
    for visitor in [*states, "withdrawal"]:
        assert f"screenshots/{visitor}.png" in files
        har = json.loads((out / f"har/{visitor}.har").read_text())
        assert har["log"]["entries"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["versions"]["browser"].startswith("Chromium")
    assert meta["versions"]["consentkit"] and meta["started"] <= meta["finished"]
    assert meta["arguments"]["scan_config"] == "tests.scan.site:LEAKY_CONFIG"
    html = (out / "report.html").read_text()
    assert "tk_uid" in html and "data:image/png;base64," in html
    assert "<script" not in html and "<link" not in html  # self-contained
    assert not re.search(r"(src|href)=['\"]https?:", html)
    draft = (out / "declaration.py").read_text()
    assert "chat_widget_state" in draft and "Category(" in draft


def test_undecided_screenshot_shows_the_banner(leaky_scan: Scan) -> None:
    assert leaky_scan.out is not None
    undecided = (leaky_scan.out / "screenshots/undecided.png").read_bytes()
    accepted = (leaky_scan.out / "screenshots/accept_all.png").read_bytes()
    assert undecided[:8] == b"\x89PNG\r\n\x1a\n" and undecided != accepted


def test_clean_site_exits_0(clean_site: Site, scan_site: Callable[..., Scan]) -> None:
    scan = scan_site(clean_site, "--format", "json", "--fail-on", "undeclared,stale,misfiled")
    assert scan.status == 0, scan.output
    assert scan.report["findings"] == []
    names = {(i["item"], i["name"]) for i in scan.report["items"]}
    assert {("cookie", "_ga"), ("cookie", "mk_pref"), ("cookie", "consentkit")} <= names


def test_banner_clicking_without_config(clean_site: Site, scan_site: Callable[..., Scan]) -> None:
    scan = scan_site(clean_site, "--format", "json", config=False)
    assert scan.status == 0, scan.output
    report = scan.report
    assert report["declaration_source"] == "endpoint"
    items = {(i["item"], i["name"]): i for i in report["items"]}
    assert set(items[("cookie", "mk_pref")]["visitors"]) == {
        "accept_all", "only_marketing", "withdrawal_accepted"
    }  # fmt: skip
    assert set(items[("cookie", "_ga")]["visitors"]) == {
        "accept_all", "only_analytics", "withdrawal_accepted"
    }  # fmt: skip


def test_secret_key_without_config_writes_the_cookie(
    clean_site: Site, scan_site: Callable[..., Scan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSENTKIT_SECRET_KEYS", raising=False)
    keyed = scan_site(clean_site, "--format", "json", f"--secret-key={clean_site.secret}",
                      config=False)  # fmt: skip
    assert keyed.status == 0, keyed.output
    items = {(i["item"], i["name"]): i for i in keyed.report["items"]}
    assert set(items[("cookie", "_ga")]["visitors"]) == {
        "accept_all", "only_analytics", "withdrawal_accepted"
    }  # fmt: skip
    # A wrong key gives an undecided visitor: its "accept all" grants nothing (the first page,
    # where the right key shows _ga, is enough to tell).
    assert "/" in items[("cookie", "_ga")]["visitors"]["accept_all"]["pages"]
    wrong = scan_site(clean_site, "--format", "json", "--pages", "1", "--secret-key", "w" * 40,
                      config=False)  # fmt: skip
    wrong_items = {(i["item"], i["name"]): i for i in wrong.report["items"]}
    assert ("cookie", "_ga") not in wrong_items or "accept_all" not in wrong_items[
        ("cookie", "_ga")]["visitors"]  # fmt: skip


def test_two_scans_give_the_same_report(
    leaky_scan: Scan, leaky_site: Site, scan_site: Callable[..., Scan]
) -> None:
    # The shared scan (its report in the evidence bundle) and a second one, to stdout.
    again = scan_site(leaky_site, "--format", "json")
    assert leaky_scan.status == again.status == 1
    assert leaky_scan.report == again.report


def test_unreachable_site_exits_2(capsys: pytest.CaptureFixture[str], scan_tools: None) -> None:
    from tests.live import free_port

    scan = run_scan(f"http://127.0.0.1:{free_port()}/", "--browser-path", str(CHROMIUM))
    assert scan.status == 2
    assert "cannot reach" in capsys.readouterr().err


def test_missing_browser_exits_2(capsys: pytest.CaptureFixture[str], scan_tools: None) -> None:
    scan = run_scan("http://127.0.0.1:9/", "--browser-path", "/nonexistent/chromium")
    assert scan.status == 2
    assert "no such browser executable" in capsys.readouterr().err


def test_demo_site_scans_clean(
    scan_tools: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_STORAGE", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    scan = run_scan(
        "--app", "examples.seed_site.asgi:app", "--browser-path", str(CHROMIUM),
        "--format", "json", "--pages", "4", "--settle", "0.2",
        "--fail-on", "undeclared,misfiled",
    )  # fmt: skip
    assert scan.status == 0, scan.output
    report = scan.report
    assert report["declaration_source"] == "config"
    assert len(report["pages"]) == 4
    assert [f for f in report["findings"] if f["kind"] != "stale"] == []
    names = {(i["item"], i["name"]) for i in report["items"]}
    assert ("cookie", "demo_video") in names  # set by the gated video script
    assert os.environ["DEMO_STORAGE"].endswith("demo.db")
