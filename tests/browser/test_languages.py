"""Every shipped language in Chromium: the banner and the preferences dialog at 360 and 1280 px.

For each language and width, one page (in one shared browser context, never deciding, so
no consent cookie is ever set) shows the banner, then opens the preferences dialog. Each
surface must carry the language and its direction, keep every box inside its parent and
the viewport, keep each button label on one line, and pass axe-core's WCAG 2.1 A/AA rules.
Screenshots go to ``test-artifacts/languages/`` (gitignored), or to
``$CONSENTKIT_ARTIFACTS/languages/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consentkit.i18n import shipped_languages

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CONSENTKIT_ARTIFACTS", ROOT / "test-artifacts")) / "languages"
LANGUAGES = tuple(shipped_languages().values())
WIDTHS = (360, 1280)
RTL = {"he", "ar"}

#: Problems with the layout of the surface matched by ``selector``, as readable strings.
LAYOUT = """(selector) => {
  const root = document.querySelector(selector);
  const problems = [];
  const vw = document.documentElement.clientWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className ? '.' + String(e.className).split(' ').join('.') : '');
  const box = root.getBoundingClientRect();
  if (box.left < -0.5 || box.right > vw + 0.5) problems.push(`${name(root)} leaves the viewport`);
  if (root.scrollWidth > root.clientWidth + 1) problems.push(`${name(root)} scrolls sideways`);
  for (const e of root.querySelectorAll('*')) {
    const style = getComputedStyle(e);
    if (style.display === 'none' || style.visibility === 'hidden' || e.closest('.ck-sr')) continue;
    const r = e.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    const p = e.parentElement.getBoundingClientRect();
    if (r.left < p.left - 1 || r.right > p.right + 1)
      problems.push(`${name(e)} overflows its parent`);
    if (e.scrollWidth > e.clientWidth + 1 && style.overflowX === 'visible' && e.clientWidth)
      problems.push(`${name(e)}: its content is wider than its box`);
  }
  for (const b of root.querySelectorAll('.ck-btn, summary')) {
    const range = document.createRange();
    range.selectNodeContents(b);
    const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
    if (lines.size > 1) problems.push(`"${b.textContent.trim()}" wraps onto ${lines.size} lines`);
  }
  if (document.documentElement.scrollWidth > vw) problems.push('the page scrolls sideways');
  return problems;
}"""


#: Line breaks that CJK typography forbids, in the surface matched by ``selector``: a Korean
#: word split across lines (Korean breaks between words), or a line that starts with closing
#: punctuation or a small kana (Japanese and Chinese kinsoku rules).
CJK_BREAKS = r"""(selector) => {
  const root = document.querySelector(selector);
  const lang = root.lang;
  const noStart = new RegExp('[\u3001\u3002\uff0c\uff0e\uff1a\uff1b\uff01\uff1f\u300d\u300f\uff09'
    + '\u30fc\u3041\u3043\u3045\u3047\u3049\u3063\u3083\u3085\u3087'
    + '\u30a1\u30a3\u30a5\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7]');
  const hangul = /[\uac00-\ud7a3]/;
  const bad = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.data;
    let top = null;
    for (let i = 0; i < text.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      if (top !== null && rect.top > top + 2) {
        const before = text[i - 1], after = text[i];
        const where = text.slice(Math.max(0, i - 4), i) + '|' + text.slice(i, i + 4);
        const inWord = /\S/.test(before) && /\S/.test(after);
        if (lang === 'ko' && inWord && hangul.test(before + after))
          bad.push(`a word is split: ${where}`);
        if (lang !== 'ko' && noStart.test(after)) bad.push(`a line starts with ${after}: ${where}`);
      }
      top = rect.top;
    }
  }
  return bad;
}"""
CJK = {"ja", "ko", "zh-Hans"}


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['targets']}" for v in violations
    )


@pytest.fixture(scope="module")
def context(browser: Any, live_server: str) -> Iterator[Any]:
    """One browser context for every language: no test here ever decides."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server, device_scale_factor=1)
    context.set_default_timeout(5000)
    yield context
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_banner_and_dialog(
    context: Any, axe: Callable[..., list[dict[str, Any]]], lang: str, width: int
) -> None:
    page = context.new_page()
    try:
        page.set_viewport_size({"width": width, "height": 800 if width > 400 else 740})
        page.set_extra_http_headers({"Accept-Language": f"{lang},en;q=0.1"})
        page.goto("/")
        banner = page.locator("#consentkit-banner")
        banner.wait_for()
        direction = "rtl" if lang in RTL else "ltr"
        assert banner.get_attribute("lang") == lang
        assert banner.evaluate("e => getComputedStyle(e).direction") == direction
        if lang != "en":
            assert "Accept all" not in banner.inner_text()
        page.evaluate("document.activeElement.blur()")
        page.screenshot(path=str(ARTIFACTS / f"{lang}-{width}-banner.png"), animations="disabled")
        assert page.evaluate(LAYOUT, "#consentkit-banner") == []
        if lang in CJK:
            assert page.evaluate(CJK_BREAKS, "#consentkit-banner") == []
        violations = axe(page, "#consentkit-banner")
        assert not violations, describe(violations)

        page.locator("#consentkit-banner summary").click()
        dialog = page.locator("dialog.ck-dialog")
        dialog.wait_for()
        assert dialog.get_attribute("lang") == lang
        assert dialog.evaluate("e => getComputedStyle(e).direction") == direction
        page.evaluate("document.activeElement.blur()")
        page.screenshot(path=str(ARTIFACTS / f"{lang}-{width}-dialog.png"), animations="disabled")
        assert page.evaluate(LAYOUT, "dialog.ck-dialog") == []
        if lang in CJK:
            assert page.evaluate(CJK_BREAKS, "dialog.ck-dialog") == []
        violations = axe(page, "dialog.ck-dialog")
        assert not violations, describe(violations)
        assert (ARTIFACTS / f"{lang}-{width}-dialog.png").stat().st_size > 1000
    finally:
        page.close()


def test_the_layout_check_finds_a_label_too_long(context: Any) -> None:
    """The check above is not vacuous: a label too long for a phone is reported."""
    page = context.new_page()
    try:
        page.set_viewport_size({"width": 360, "height": 740})
        page.goto("/")
        page.locator("#consentkit-banner").wait_for()
        assert page.evaluate(LAYOUT, "#consentkit-banner") == []
        page.evaluate(
            """() => {
              const [reject, accept] = document.querySelectorAll('#consentkit-banner .ck-btn');
              reject.textContent = 'Datenschutzeinstellungsverwaltungsübersichtsseite';
              accept.style.whiteSpace = 'nowrap';
              accept.textContent = 'Alle Cookies und sonstigen Technologien akzeptieren';
            }"""
        )
        problems = page.evaluate(LAYOUT, "#consentkit-banner")
        assert any("Datenschutz" in p and "lines" in p for p in problems), problems
        assert any("wider than its box" in p or "overflows" in p for p in problems), problems
    finally:
        page.close()
