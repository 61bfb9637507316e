"""What visitors see: the snippet files, the banner fragment and the privacy page.

Everything that does not depend on the request is rendered once per language
when the `Renderer` is built; a request only fills in the few bits that vary
(the page to return to, the CSP nonce, the visitor's granted categories).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from html import escape
from importlib import resources
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from markupsafe import Markup

from consentkit.config import ConsentConfig
from consentkit.consent import Consent
from consentkit.declaration import Declaration

__all__ = ["Assets", "Renderer"]

#: Stands for the per-request ``next`` path while the banner is pre-rendered.
_NEXT = "\x00consentkit-next\x00"
#: Stands for a fresh decision id (one per form) while the banner is pre-rendered.
_DECISION = "\x00consentkit-decision\x00"
_MARKS = re.compile("(\x00consentkit-(?:next|decision)\x00)")
_YEAR = b"public, max-age=31536000, immutable"
_SHORT = b"public, max-age=300, must-revalidate"
_TYPES = {"js": b"text/javascript; charset=utf-8", "css": b"text/css; charset=utf-8"}

Headers = list[tuple[bytes, bytes]]


class _Asset:
    """One static file with its hash, URLs and ETag."""

    def __init__(self, prefix: str, ext: str) -> None:
        self.body = resources.files("consentkit").joinpath(f"static/consentkit.{ext}").read_bytes()
        digest = hashlib.sha256(self.body).hexdigest()
        self.etag = f'"{digest[:16]}"'.encode()
        self.plain = f"{prefix}/consentkit.{ext}"
        self.hashed = f"{prefix}/consentkit.{digest[:10]}.{ext}"
        self.content_type = _TYPES[ext]

    def response(self, hashed: bool, if_none_match: str | None) -> tuple[int, Headers, bytes]:
        headers: Headers = [
            (b"content-type", self.content_type),
            (b"cache-control", _YEAR if hashed else _SHORT),
            (b"etag", self.etag),
            (b"x-content-type-options", b"nosniff"),
        ]
        if if_none_match and _etag_matches(if_none_match, self.etag.decode()):
            return 304, headers, b""
        headers.append((b"content-length", str(len(self.body)).encode()))
        return 200, headers, self.body


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class Assets:
    """The snippet files, served with a content hash in their URL."""

    def __init__(self, prefix: str) -> None:
        self._js = _Asset(prefix, "js")
        self._css = _Asset(prefix, "css")
        #: URL of the script, with its content hash: cache it forever.
        self.js_url: str = self._js.hashed
        #: URL of the stylesheet, with its content hash: cache it forever.
        self.css_url: str = self._css.hashed
        self._paths: dict[str, tuple[_Asset, bool]] = {
            self._js.plain: (self._js, False),
            self._js.hashed: (self._js, True),
            self._css.plain: (self._css, False),
            self._css.hashed: (self._css, True),
        }

    def response(
        self, path: str, if_none_match: str | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """``(status, headers, body)`` for an asset path, or ``None`` if it is not one.

        Hashed URLs are cached for a year (``immutable``); the plain ones for a
        few minutes. A matching ``If-None-Match`` gets 304 with no body.
        """
        hit = self._paths.get(path)
        if hit is None:
            return None
        asset, hashed = hit
        return asset.response(hashed, if_none_match)


def _environment(config: ConsentConfig) -> Environment:
    return Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(list(config.template_dirs)),
                PackageLoader("consentkit", "templates"),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _attr(value: str) -> str:
    return escape(value, quote=True)


class _Language:
    """The pre-rendered pieces of one language."""

    def __init__(self, banner: str, declaration: Declaration) -> None:
        # Literal parts at even indexes, placeholders at odd ones.
        self.banner = [part.encode() for part in _MARKS.split(banner)]
        self.declaration = declaration


def new_decision_id() -> str:
    """A fresh decision id for a form: 128 random bits, as 32 hex digits."""
    return secrets.token_hex(16)


class Renderer:
    """Renders the banner fragment and the privacy page for every configured language."""

    def __init__(
        self,
        config: ConsentConfig,
        declarations: Mapping[str, Declaration],
        assets: Assets,
    ) -> None:
        self._config = config
        self._assets = assets
        self._env = _environment(config)
        # From the declaration: it includes the "necessary" category consentkit
        # adds when a site declares no required one.
        categories = next(iter(declarations.values())).data["categories"]
        self._required = sorted(c["key"] for c in categories if c["required"])
        gcm = config.google_consent_mode
        static_attrs = f' data-prefix="{_attr(config.prefix)}"'
        static_attrs += f' data-required="{_attr(" ".join(self._required))}"'
        if gcm:
            mapping = {key: list(types) for key, types in sorted(gcm.items())}
            static_attrs += f' data-gcm="{_attr(json.dumps(mapping, separators=(",", ":")))}"'
        self._link = f'<link rel="stylesheet" href="{_attr(assets.css_url)}">'.encode()
        self._head = f'<script src="{_attr(assets.js_url)}" defer id="consentkit-js"'.encode()
        self._static_attrs = static_attrs.encode()
        self._granted_attrs: dict[tuple[bool, frozenset[str]], bytes] = {}
        banner = self._env.get_template("consentkit/banner.html")
        self._languages: dict[str, _Language] = {}
        for lang, declaration in declarations.items():
            html = banner.render(
                self._context(declaration, next_path=_NEXT, decision_id=lambda: _DECISION)
            )
            self._languages[lang] = _Language(html, declaration)
        self._privacy = self._env.get_template("consentkit/privacy.html")

    def _context(self, declaration: Declaration, **extra: Any) -> dict[str, Any]:
        categories = declaration.data["categories"]
        return {
            "lang": declaration.lang,
            "dir": declaration.direction,
            "t": declaration.texts,
            "prefix": self._config.prefix,
            "privacy_path": self._config.privacy_path,
            "categories": categories,
            "optional": [c for c in categories if not c["required"]],
            "policy_version": self._config.policy_version,
            **extra,
        }

    def _language(self, lang: str) -> _Language:
        found = self._languages.get(lang)
        if found is None:
            found = self._languages.get(self._config.default_language)
        if found is None:
            found = next(iter(self._languages.values()))
        return found

    def _script_state(self, consent: Consent) -> bytes:
        key = (consent.decided, consent.granted)
        attrs = self._granted_attrs.get(key)
        if attrs is None:
            attrs = (
                f' data-decided="{int(consent.decided)}"'
                f' data-granted="{_attr(" ".join(sorted(consent.granted)))}"'
            ).encode()
            if len(self._granted_attrs) < 4096:
                self._granted_attrs[key] = attrs
        return attrs

    def _script(self, consent: Consent, nonce: str | None) -> bytes:
        nonce_attr = f' nonce="{_attr(nonce)}"'.encode() if nonce else b""
        return b"".join(
            (self._head, nonce_attr, self._static_attrs, self._script_state(consent), b"></script>")
        )

    def fragment(self, consent: Consent, lang: str, next_path: str, nonce: str | None) -> bytes:
        """HTML to insert before ``</body>``: stylesheet, script and, if undecided, banner.

        With ``insert_snippet=False`` the site prints `snippet_tags` itself
        and only the banner is inserted.
        """
        tags = self.snippet_tags(consent, nonce) if self._config.insert_snippet else b""
        if consent.decided or not self._config.insert_banner:
            return tags
        parts = self._language(lang).banner
        next_attr = _attr(next_path).encode()
        out = [tags]
        for index, part in enumerate(parts):
            if not index % 2:
                out.append(part)
            elif part == _NEXT.encode():
                out.append(next_attr)
            else:
                out.append(new_decision_id().encode())
        return b"".join(out)

    def snippet_tags(self, consent: Consent, nonce: str | None) -> bytes:
        """The stylesheet link and script tag, for a site that places them itself."""
        return self._link + self._script(consent, nonce)

    def privacy_page(self, consent: Consent, lang: str, nonce: str | None) -> bytes:
        """The privacy overview as a complete HTML document."""
        language = self._language(lang)
        context = self._context(
            language.declaration,
            consent=consent,
            granted=consent.granted,
            next_path=self._config.privacy_path,
            decision_id=new_decision_id,
            nonce=nonce,
            css_url=self._assets.css_url,
            js_url=self._assets.js_url,
            snippet=Markup(self._script(consent, nonce).decode()),
        )
        return self._privacy.render(context).encode()
