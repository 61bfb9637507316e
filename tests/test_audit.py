"""``consentkit audit`` against the fixture sites in ``tests/audit_apps``, as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"


def audit(
    tmp_path: Path, *args: str, entry: tuple[str, ...] = ("-m", "consentkit.audit")
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(SRC)]),
        "CONSENTKIT_AUDIT_DIR": str(tmp_path),
    }
    env.pop("CONSENTKIT_SECRET_KEYS", None)
    return subprocess.run(
        [sys.executable, *entry, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def audit_json(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = audit(tmp_path, *args, "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_clean_site_passes(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.clean:app", "--crawl", "5")
    assert code == 0
    assert report["ok"] is True
    assert report["leaks"] == [] and report["undeclared_cookies"] == []
    assert report["ungated_embeds"] == []
    assert report["stale_declarations"] == [] and report["empty_categories"] == []
    assert "/reports" in report["pages"]  # found by crawling; the lifespan state was there
    assert report["errors"] == []
    seen = {c["name"]: c for c in report["cookies"]}
    assert seen["session"]["passes"] == ["no_consent", "rejected", "accepted"]
    # Optional cookies appear only for the visitor who accepted them.
    for name in ("_ga", "_fbp", "consentkit_visitor"):
        assert seen[name]["passes"] == ["accepted"], name
    assert seen["consentkit"]["category"] == "necessary"
    assert "scripts set in the browser" in report["not_seen"]


def test_clean_site_table(tmp_path: Path) -> None:
    result = audit(tmp_path, "audit_apps.clean:app")
    assert result.returncode == 0, result.stderr
    assert "nothing non-necessary leaks" in result.stdout
    assert "cannot see cookies that scripts set in the browser" in result.stdout


def test_undeclared_cookie_found_only_by_crawling(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.leaky_undeclared:app")
    assert code == 0, report  # /shop is not visited
    code, report = audit_json(tmp_path, "audit_apps.leaky_undeclared:app", "--crawl", "1")
    assert code == 1
    assert report["pages"] == ["/", "/shop"]  # the /consent link is not followed
    leaks = {(leak["cookie"], leak["category"], leak["pass"]) for leak in report["leaks"]}
    assert leaks == {
        ("visitor_id", "undeclared", "no_consent"),
        ("visitor_id", "undeclared", "rejected"),
    }
    assert report["leaks"][0]["requests"] == ["GET /shop"]
    assert [c["cookie"] for c in report["undeclared_cookies"]] == ["visitor_id"]


def test_explicit_paths(tmp_path: Path) -> None:
    result = audit(tmp_path, "audit_apps.leaky_undeclared:app", "--path", "/shop")
    assert result.returncode == 1
    assert "visitor_id" in result.stdout and "undeclared" in result.stdout
    assert "GET /shop" in result.stdout


def test_declared_optional_cookie_set_outside_the_middleware(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.leaky_outer:app")
    assert code == 1
    passes = {leak["pass"] for leak in report["leaks"] if leak["cookie"] == "_ga"}
    assert passes == {"no_consent", "rejected"}
    assert {leak["category"] for leak in report["leaks"]} == {"analytics"}
    # The declared necessary "session" and marketing "_fbp" are never set: stale.
    stale = {(s["cookie"], s["category"]) for s in report["stale_declarations"]}
    assert stale == {("session", "necessary"), ("_fbp", "marketing")}


def test_ungated_third_party_embeds(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.leaky_embeds:app")
    assert code == 1
    embeds = {(e["tag"], e["src"]) for e in report["ungated_embeds"]}
    assert embeds == {
        ("script", "https://tracker.example/t.js"),
        ("script", "https://cdn.example.net/jquery.js"),
        ("iframe", "https://www.youtube.com/embed/abc"),
    }
    assert report["leaks"] == []
    # Allowed hosts are not reported.
    code, report = audit_json(
        tmp_path,
        "audit_apps.leaky_embeds:app",
        "--allow-host",
        "example.net",
        "--allow-host",
        "tracker.example",
        "--allow-host",
        "youtube.com",
    )
    assert code == 0 and report["ungated_embeds"] == []


def test_ungated_embeds_table(tmp_path: Path) -> None:
    result = audit(tmp_path, "audit_apps.leaky_embeds:app")
    assert result.returncode == 1
    assert "https://tracker.example/t.js" in result.stdout
    assert "ads.example" not in result.stdout  # held back with data-consent
    assert "/static/site.js" not in result.stdout  # same site


def test_stale_declaration_and_empty_category_are_warnings(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.stale:app")
    assert code == 0
    assert report["stale_declarations"] == [{"cookie": "old_tracker", "category": "analytics"}]
    assert report["empty_categories"] == ["marketing"]
    assert report["pages_writing_document_cookie"] == ["/"]
    result = audit(tmp_path, "audit_apps.stale:app")
    assert "old_tracker" in result.stdout
    assert "Categories with no cookies declared: marketing" in result.stdout


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("audit_apps.broken:app", "no ConsentMiddleware found"),
        ("audit_apps.broken:missing", "has no attribute 'missing'"),
        ("audit_apps.broken:not_an_app", "not an ASGI app"),
        ("audit_apps.nowhere:app", "cannot import module 'audit_apps.nowhere'"),
        ("audit_apps.raises_on_import:app", "database settings missing"),
        ("no_colon", "expected MODULE:APP"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, spec: str, message: str) -> None:
    result = audit(tmp_path, spec)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_bad_options_exit_2(tmp_path: Path) -> None:
    assert audit(tmp_path, "audit_apps.clean:app", "--crawl", "-1").returncode == 2
    result = audit(tmp_path, "audit_apps.clean:app", "--path", "reports")
    assert result.returncode == 2 and "must start with '/'" in result.stderr


def test_through_the_consentkit_command(tmp_path: Path) -> None:
    result = audit(
        tmp_path,
        "audit",
        "audit_apps.leaky_outer:app",
        "--format",
        "json",
        entry=("-m", "consentkit"),
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["leaks"]


def test_compressed_site_names_the_coding_it_cannot_handle(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.compressed:app")
    assert code == 1
    assert report["ok"] is False
    assert report["leaks"] == [] and report["undeclared_cookies"] == []
    [finding] = report["unhandled_encodings"]
    assert finding["encoding"] == "zstd"
    assert "outside ConsentMiddleware" in finding["reason"]
    table = audit(tmp_path, "audit_apps.compressed:app")
    assert table.returncode == 1
    assert "could not insert the banner into" in table.stdout
    assert "Content-Encoding: zstd" in table.stdout
    shared = [(f["kind"], f["item"], f["name"]) for f in report["findings"]]
    assert ("unenforced", "encoding", "zstd") in shared


def test_fixture_gzip_gets_the_banner_zstd_does_not(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from tests.audit_apps.compressed import create_app

    app = create_app(str(tmp_path))

    async def fetch(accept: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.get("/", headers={"accept-encoding": accept})

    gzipped = asyncio.run(fetch("gzip"))
    assert gzipped.headers["content-encoding"] == "gzip"
    assert 'id="consentkit-banner"' in gzipped.text
    zstd = asyncio.run(fetch("zstd"))
    assert zstd.headers["content-encoding"] == "zstd"
    assert b"consentkit-banner" not in zstd.content


def test_cookie_middleware_outside_consentkit_is_named(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.session_outside:app")
    assert code == 1 and report["ok"] is False
    assert report["cookie_middleware_outside"] == [
        {"middleware": "SessionMiddleware", "cookies": ["basket_session"]}
    ]
    assert "SessionMiddleware" in report["middleware_outside"]
    assert "ConsentMiddleware" not in report["middleware_outside"]
    leaks = {(leak["cookie"], leak["pass"]) for leak in report["leaks"]}
    assert leaks == {("basket_session", "no_consent"), ("basket_session", "rejected")}
    table = audit(tmp_path, "audit_apps.session_outside:app").stdout
    assert "Cookie-setting middleware outside consentkit" in table
    assert "SessionMiddleware  basket_session" in table
    [shared] = [f for f in report["findings"] if f["item"] == "middleware"]
    assert shared["kind"] == "unenforced" and shared["name"] == "SessionMiddleware"
    assert shared["sources"] == ["basket_session"]


def test_cookie_middleware_outside_is_named_even_when_no_request_sets_its_cookie(
    tmp_path: Path,
) -> None:
    # /quiet never writes the session: the class name alone fails the audit.
    code, report = audit_json(tmp_path, "audit_apps.session_outside:app", "--path", "/quiet")
    assert code == 1
    assert report["cookie_middleware_outside"] == [
        {"middleware": "SessionMiddleware", "cookies": []}
    ]
    assert report["leaks"] == []


def test_installed_in_order_passes(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.session_outside:ordered")
    assert code == 0, report
    assert report["cookie_middleware_outside"] == []
    assert "GZipMiddleware" in report["middleware_outside"]
    assert "SessionMiddleware" not in report["middleware_outside"]
    seen = {c["name"]: c["passes"] for c in report["cookies"]}
    assert seen["basket_session"] == ["accepted"]


def test_leaky_outer_names_the_wrapper(tmp_path: Path) -> None:
    _, report = audit_json(tmp_path, "audit_apps.leaky_outer:app")
    assert report["middleware_outside"] == ["TrackingMiddleware"]
    assert report["cookie_middleware_outside"] == [
        {"middleware": "TrackingMiddleware", "cookies": ["_ga"]}
    ]


def test_get_only_audit_says_what_it_did_not_exercise(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.posts:app")
    assert code == 0
    assert report["posts"] == []
    stale = {s["cookie"] for s in report["stale_declarations"]}
    assert stale == {"session", "basket_ad"}
    table = audit(tmp_path, "audit_apps.posts:app").stdout
    assert "Posted nothing (no --post)" in table
    assert "not seen on the requests made (set on another request" in table
    assert "never seen (stale" not in table
    assert "consentkit scan" in table


def test_post_forms_are_exercised_before_the_pages(tmp_path: Path) -> None:
    code, report = audit_json(
        tmp_path,
        "audit_apps.posts:app",
        "--post",
        "/login=username=ada&password=right",
        "--post",
        "/basket=item=shoes",
    )
    assert code == 0, report
    assert report["posts"] == ["/login username=ada&password=right", "/basket item=shoes"]
    assert report["stale_declarations"] == []
    seen = {c["name"]: c for c in report["cookies"]}
    assert seen["session"]["passes"] == ["no_consent", "rejected", "accepted"]
    assert seen["session"]["requests"]["no_consent"] == ["POST /login"]
    # The marketing cookie set on the POST is held back until accepted.
    assert seen["basket_ad"]["passes"] == ["accepted"]
    assert seen["basket_ad"]["requests"]["accepted"] == ["POST /basket"]


def test_a_refused_post_is_an_error_in_the_report(tmp_path: Path) -> None:
    _, report = audit_json(tmp_path, "audit_apps.posts:app", "--post", "/login=password=wrong")
    assert {"pass": "no_consent", "page": "POST /login", "status": 403} in report["errors"]


def test_bad_post_option_exits_2(tmp_path: Path) -> None:
    result = audit(tmp_path, "audit_apps.posts:app", "--post", "login=user=ada")
    assert result.returncode == 2
    assert "--post 'login=user=ada' must start with '/'" in result.stderr


def test_litestar_stack_with_a_cookie_middleware_outside(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.litestar_outside:app")
    assert code == 1
    assert report["middleware_outside"] == ["VariantMiddleware"]
    assert report["cookie_middleware_outside"] == [
        {"middleware": "VariantMiddleware", "cookies": ["ab_group"]}
    ]
    code, report = audit_json(tmp_path, "audit_apps.litestar_outside:ordered")
    assert code == 0, report
    assert report["middleware_outside"] == []
    assert {c["name"]: c["passes"] for c in report["cookies"]}["ab_group"] == ["accepted"]


def test_cookie_added_outside_on_a_redirected_post_is_named(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.posts:leaky", "--post", "/basket=item=1")
    assert code == 1
    assert report["cookie_middleware_outside"] == [
        {"middleware": "FormTokenMiddleware", "cookies": ["form_token"]}
    ]


def test_consent_middleware_in_litestars_own_list_is_refused_naming_the_session(
    tmp_path: Path,
) -> None:
    result = audit(tmp_path, "audit_apps.litestar_outside:listed")
    assert result.returncode == 2
    assert "lists ConsentMiddleware in Litestar's middleware" in result.stderr
    assert "SessionMiddleware sets cookies outside it" in result.stderr
    assert "consentkit.integrations.litestar.wrap" in result.stderr


def test_a_known_hosts_tag_left_live_because_auto_block_is_off(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.known_hosts:app")
    assert code == 1
    embeds = {e["src"]: e for e in report["ungated_embeds"]}
    # An image counts only from a declared host; a script from an undeclared one as before.
    assert set(embeds) == {
        "https://www.youtube.com/embed/abc",
        "https://i.ytimg.com/vi/abc/0.jpg",
        "https://tracker.example/t.js",
    }
    assert embeds["https://www.youtube.com/embed/abc"]["category"] == "marketing"
    assert embeds["https://www.youtube.com/embed/abc"]["auto_block_off"] is True
    assert embeds["https://tracker.example/t.js"]["category"] is None
    findings = {f["name"]: f for f in report["findings"] if f["item"] == "embed"}
    video = findings["https://www.youtube.com/embed/abc"]
    assert video["kind"] == "leak" and video["category"] == "marketing"
    assert video["classification"]["source"] == "declaration"
    assert "auto_block is off" in video["message"]
    assert "auto_block is off" not in findings["https://tracker.example/t.js"]["message"]
    table = audit(tmp_path, "audit_apps.known_hosts:app").stdout
    assert "ConsentConfig(auto_block=True)" in table


def test_auto_block_on_leaves_only_the_undeclared_host(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.known_hosts:blocked")
    assert code == 1
    assert [e["src"] for e in report["ungated_embeds"]] == ["https://tracker.example/t.js"]


def test_cookies_a_regime_runs_before_a_choice_are_no_leak(tmp_path: Path) -> None:
    # Under us_opt_out every category runs until the visitor opts out: the first visit's
    # _ga and _fbp are expected, and rejecting all still stops them (the middleware does).
    code, report = audit_json(tmp_path, "audit_apps.us_opt_out:app", "--crawl", "5")
    assert code == 0, report["leaks"]
    assert report["regime"] == "us_opt_out"
    assert report["before_choice"] == ["analytics", "marketing", "necessary"]
    assert report["leaks"] == []
    seen = {c["name"]: c for c in report["cookies"]}
    assert seen["_ga"]["passes"] == ["no_consent", "accepted"]
    assert seen["_ga"]["allowed_before_choice"] is True
    assert seen["_fbp"]["passes"] == ["no_consent", "accepted"]
    text = audit(tmp_path, "audit_apps.us_opt_out:app").stdout
    assert "Regime of the default rule: us_opt_out" in text


def test_opt_in_default_still_reports_cookies_before_a_choice(tmp_path: Path) -> None:
    code, report = audit_json(tmp_path, "audit_apps.leaky_outer:app")
    assert code == 1 and report["regime"] == "opt_in" and report["before_choice"] == ["necessary"]
    assert {c["name"]: c for c in report["cookies"]}["_ga"]["allowed_before_choice"] is False
