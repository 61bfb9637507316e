"""Finding the browser and the recorder's bookkeeping (no browser started)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from consentkit.scan.browser import (
    MAX_ITEMS,
    BrowserNotFound,
    Recorder,
    find_browser,
    prepare_profile,
    strip_query,
)


def playwright(own: str) -> Any:
    return SimpleNamespace(chromium=SimpleNamespace(executable_path=own))


def test_browser_path_then_environment_then_playwright_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = tmp_path / "explicit"
    env = tmp_path / "env"
    own = tmp_path / "own"
    for path in (explicit, env, own):
        path.write_text("")
    monkeypatch.setenv("CONSENTKIT_CHROMIUM", str(env))
    assert find_browser(playwright(str(own)), str(explicit)) == str(explicit)
    assert find_browser(playwright(str(own)), None) == str(env)
    monkeypatch.delenv("CONSENTKIT_CHROMIUM")
    assert find_browser(playwright(str(own)), None) is None  # Playwright's own
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "chromium").write_text("")
    (tmp_path / "chromium").chmod(0o755)
    assert find_browser(playwright(str(tmp_path / "absent")), None) == str(tmp_path / "chromium")


def test_no_browser_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENTKIT_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrowserNotFound, match="playwright install chromium"):
        find_browser(playwright(str(tmp_path / "absent")), None)
    monkeypatch.setenv("CONSENTKIT_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(BrowserNotFound, match="CONSENTKIT_CHROMIUM"):
        find_browser(playwright(""), None)


def test_recorder_files_by_state_and_bounds_what_it_keeps() -> None:
    recorder = Recorder("127.0.0.1")
    assert recorder.add("cookie", "a", "127.0.0.1") is None  # no state: dropped
    recorder.state, recorder.page = "undecided", "/"
    for number in range(MAX_ITEMS + 10):
        recorder.add("local_storage", f"key{number}", "http://127.0.0.1")
    assert len(recorder.states["undecided"]) == MAX_ITEMS
    long = recorder.states["undecided"][("local_storage", "key0", "http://127.0.0.1")]
    assert long.pages == {"/"}


def test_header_cookies_and_removals() -> None:
    recorder = Recorder("127.0.0.1")
    recorder.state, recorder.page = "undecided", "/"
    recorder._header_cookie("a=1; Path=/; Domain=.Example.org", "www.example.org", None, "u")
    recorder._header_cookie("b=; Max-Age=0", "www.example.org", None, "u")
    recorder._header_cookie("c=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "x.org", None, "u")
    assert list(recorder.states["undecided"]) == [("cookie", "a", "example.org")]


def test_strip_query_and_profile(tmp_path: Path) -> None:
    assert strip_query("https://t.example/p.gif?uid=42#x") == "https://t.example/p.gif"
    assert strip_query("about:blank") == "about:blank"
    prepare_profile(tmp_path)
    assert '"cookie_controls_mode": 0' in (tmp_path / "Default" / "Preferences").read_text()
