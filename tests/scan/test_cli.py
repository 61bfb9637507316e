"""``consentkit scan`` on the command line: what each bad argument gets (exit status 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from consentkit.cli import main


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["scan", "--no-progress", *args])
    return status, capsys.readouterr().err


def test_without_playwright_it_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "playwright", None)
    status, err = scan(capsys, "http://127.0.0.1:9/")
    assert status == 2
    assert "pip install 'consentkit[scan]'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "either URL ... or --app"),
        (("http://a.example/", "--app", "x:app"), "either URL ... or --app"),
        (("ftp://a.example/",), "is not an http(s) URL"),
        (("http://a.example/", "--config", "nowhere_at_all:config"), "cannot import"),
        (("http://a.example/", "--storage-state", "/nonexistent.json"), "no such file"),
        (("--app", "nowhere_at_all:app"), "cannot import module"),
    ],
)
def test_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    pytest.importorskip("playwright")
    status, err = scan(capsys, *args)
    assert status == 2
    assert message in err


@pytest.mark.parametrize(
    "args",
    [("--fail-on", "leaks"), ("--pages", "0"), ("--timeout", "-1"), ("--format", "xml")],
)
def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    status, err = scan(capsys, "http://a.example/", *args)
    assert status == 2
    assert "error:" in err


def test_out_must_be_a_new_or_empty_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("playwright")
    (tmp_path / "old.txt").write_text("keep me")
    status, err = scan(capsys, "http://a.example/", "--out", str(tmp_path))
    assert status == 2
    assert "not an empty folder" in err
    assert (tmp_path / "old.txt").read_text() == "keep me"
