"""The scripts categories declare (`Script`), as HTML tags for each set of granted categories.

A script of a granted category is a live ``<script>`` with the request's CSP
nonce; any other is an inert ``<script type="text/plain" data-consent="KEY">``
that the snippet runs as soon as the category is granted. Everything is
rendered once per set of granted categories; a request only puts its nonce
in. `google_tag` and `google_tag_manager` are the recipes for Google's tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Literal

from consentkit.config import Category, Script

__all__ = ["ScriptTags", "escape_inline", "google_tag", "google_tag_manager"]

#: What could end an inline script early or change how its text is parsed: ``</script``,
#: ``<script`` and ``<!--`` (any case).
_BREAKOUT = re.compile(r"<(?=/?script|!--)", re.IGNORECASE)
#: Stands for the request's ``nonce="..."`` attribute while the tags are pre-rendered.
_NONCE = "\x00consentkit-nonce\x00"
_GOOGLE_TAG_ID = re.compile(r"^(?:G|AW|DC|GT)-[A-Z0-9]{4,20}$")
_GTM_ID = re.compile(r"^GTM-[A-Z0-9]{4,12}$")
_GOOGLE = "https://www.googletagmanager.com"
Placement = Literal["head", "body_end"]
#: How many granted sets are kept rendered; a site has few categories, so few sets.
_CACHE_SIZE = 4096


def escape_inline(code: str) -> str:
    """``code`` written so that it cannot end its ``<script>`` element early.

    The ``<`` of ``</script``, ``<script`` and ``<!--`` becomes ``\\x3C``, which
    means ``<`` in the string literals, template literals and regular
    expressions where working code has such text; the tag's text then never
    holds them, live or inert.
    """
    return _BREAKOUT.sub(r"\\x3C", code)


def _attrs(script: Script) -> str:
    out = f' src="{escape(script.src, quote=True)}"' if script.src is not None else ""
    for name, value in script.attrs.items():
        if value is True:
            out += f" {name}"
        elif value is not False:
            out += f' {name}="{escape(value, quote=True)}"'
    return out


def _tag(script: Script, opening: str) -> str:
    code = "" if script.inline is None else escape_inline(script.inline)
    return f"{opening}{_attrs(script)}>{code}</script>"


def _consent_mode(gcm: Mapping[str, Sequence[str]], granted: frozenset[str]) -> str:
    """The Consent Mode state the snippet computes (consentkit.js ``consentMode``)."""
    state: dict[str, str] = {}
    for key in sorted(gcm):
        for kind in gcm[key]:
            if state.get(kind) != "granted":
                state[kind] = "granted" if key in granted else "denied"
    return json.dumps(state, separators=(",", ":"))


class _Rendered:
    """The tags for one set of granted categories, split where the nonce goes."""

    __slots__ = ("body", "body_plain", "head", "head_plain")

    def __init__(self, head: str, body: str) -> None:
        self.head = [part.encode() for part in head.split(_NONCE)]
        self.body = [part.encode() for part in body.split(_NONCE)]
        self.head_plain = b"".join(self.head)
        self.body_plain = b"".join(self.body)


class ScriptTags:
    """The declared scripts of a site, rendered for a visitor's granted categories.

    ``required`` are the always granted category keys; ``google_consent_mode`` is
    the site's mapping: with it, a page with live scripts gets Google's consent
    default (and, for a visitor who decided, the update) in an inline script
    before the first of them, since the snippet, deferred, runs after them.
    """

    __slots__ = ("_cache", "_gcm", "_required", "_scripts", "has_head")

    def __init__(
        self,
        categories: Sequence[Category],
        required: frozenset[str],
        google_consent_mode: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._scripts = [(c.key, s) for c in categories for s in c.scripts]
        self._required = required
        self._gcm = google_consent_mode
        #: Whether any script goes before ``</head>``.
        self.has_head = any(s.placement == "head" for _, s in self._scripts)
        self._cache: dict[tuple[bool, frozenset[str]], _Rendered] = {}

    def _render(self, decided: bool, granted: frozenset[str]) -> _Rendered:
        places: dict[str, list[str]] = {"head": [], "body_end": []}
        # The Consent Mode prelude goes before the first live tag, in the head when one is there.
        pending = self._prelude(decided, granted)
        live_in_head = any(key in granted and s.placement == "head" for key, s in self._scripts)
        for key, script in self._scripts:
            if key in granted:
                lead = ""
                if pending and (script.placement == "head" or not live_in_head):
                    lead, pending = pending, ""
                places[script.placement].append(lead + _tag(script, f"<script{_NONCE}"))
            else:
                opening = f'<script type="text/plain" data-consent="{key}"'
                places[script.placement].append(_tag(script, opening))
        return _Rendered("".join(places["head"]), "".join(places["body_end"]))

    def _prelude(self, decided: bool, granted: frozenset[str]) -> str:
        if not self._gcm or not any(key in granted for key, _ in self._scripts):
            return ""
        text = (
            f"<script{_NONCE}>window.dataLayer=window.dataLayer||[];"
            "function gtag(){dataLayer.push(arguments)}"
            f"gtag('consent','default',{_consent_mode(self._gcm, self._required)});"
        )
        if decided:
            text += f"gtag('consent','update',{_consent_mode(self._gcm, granted)});"
        return text + "</script>"

    def _rendered(self, decided: bool, granted: frozenset[str]) -> _Rendered:
        key = (decided, granted)
        rendered = self._cache.get(key)
        if rendered is None:
            rendered = self._render(decided, granted)
            if len(self._cache) < _CACHE_SIZE:
                self._cache[key] = rendered
        return rendered

    def head(self, decided: bool, granted: frozenset[str], nonce_attr: bytes) -> bytes:
        """The tags placed in ``"head"``; ``nonce_attr`` is `` nonce="..."`` or empty."""
        rendered = self._rendered(decided, granted)
        return nonce_attr.join(rendered.head) if nonce_attr else rendered.head_plain

    def body(self, decided: bool, granted: frozenset[str], nonce_attr: bytes) -> bytes:
        """The tags placed at ``"body_end"``."""
        rendered = self._rendered(decided, granted)
        return nonce_attr.join(rendered.body) if nonce_attr else rendered.body_plain


def google_tag(tag_id: str, placement: Placement = "head") -> tuple[Script, Script]:
    """The Google tag (gtag.js) for a GA4 (``G-``), Google Ads (``AW-``) or Floodlight id.

    ``Category(key="analytics", ..., scripts=google_tag("G-1A2B3C4D5E"))``: the
    loader and the ``config`` command, as Google's own snippet has them. With
    ``google_consent_mode`` set, the consent default comes before them.
    """
    if not isinstance(tag_id, str) or not _GOOGLE_TAG_ID.match(tag_id):
        raise ValueError(
            f"google_tag: {tag_id!r} is not a Google tag id such as 'G-1A2B3C4D5E' or 'AW-123456'"
        )
    return (
        Script(
            src=f"{_GOOGLE}/gtag/js?id={tag_id}",
            placement=placement,
            attrs={"async": True},
        ),
        Script(
            inline=(
                "window.dataLayer=window.dataLayer||[];"
                "function gtag(){dataLayer.push(arguments)}"
                f"gtag('js',new Date());gtag('config','{tag_id}');"
            ),
            placement=placement,
        ),
    )


def google_tag_manager(container_id: str, placement: Placement = "head") -> tuple[Script, Script]:
    """A Google Tag Manager container (``GTM-``), loaded as Google's snippet loads it.

    ``Category(key="analytics", ..., scripts=google_tag_manager("GTM-AB12CD3"))``.
    The container's own ``<noscript>`` iframe is left out: without JavaScript
    there is no consent to check.
    """
    if not isinstance(container_id, str) or not _GTM_ID.match(container_id):
        raise ValueError(
            f"google_tag_manager: {container_id!r} is not a container id such as 'GTM-AB12CD3'"
        )
    return (
        Script(
            inline=(
                "window.dataLayer=window.dataLayer||[];"
                "dataLayer.push({'gtm.start':new Date().getTime(),event:'gtm.js'});"
            ),
            placement=placement,
        ),
        Script(
            src=f"{_GOOGLE}/gtm.js?id={container_id}",
            placement=placement,
            attrs={"async": True},
        ),
    )
