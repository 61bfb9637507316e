"""A visitor downloads the receipt of their decision from the privacy page, in Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consentkit.log.receipt import verify_receipt

pytestmark = pytest.mark.browser


def test_receipt_link_downloads_the_visitors_signed_receipt(
    make_context: Callable[..., Any],
) -> None:
    context = make_context(accept_downloads=True)
    page = context.new_page()
    page.goto("/privacy")
    assert page.get_by_role("link", name="Download a receipt of your decision").count() == 0
    page.goto("/")
    page.get_by_role("button", name="Reject all").click()
    page.locator("#consentkit-banner").wait_for(state="detached")
    page.goto("/privacy")
    consent_id = page.locator("dd code").first.inner_text()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download a receipt of your decision").click()
    download = info.value
    assert download.suggested_filename == "consentkit-receipt.json"
    receipt = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert receipt["record"]["consent_id"] == consent_id
    assert receipt["record"]["action"] == "reject_all"
    # The site's key is random here: every proof holds, only the key is unknown.
    result = verify_receipt(receipt, {})
    assert len(result.problems) == 1, result.problems
    assert "none of the public keys given has" in result.problems[0]
