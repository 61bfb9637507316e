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
from consentkit.consent_mode import default_commands
from consentkit.declaration import Declaration
from consentkit.encoding import compress, negotiate
from consentkit.optout import OPT_OUT_PATH
from consentkit.tags import ScriptTags

__all__ = ["Assets", "Renderer"]

#: Stands for the per-request ``next`` path while the banner is pre-rendered.
_NEXT = "\x00consentkit-next\x00"
#: Stands for a fresh decision id (one per form) while the banner is pre-rendered.
_DECISION = "\x00consentkit-decision\x00"
_MARKS = re.compile("(\x00consentkit-(?:next|decision)\x00)")
_NEXT_MARK = _NEXT.encode()
_YEAR = b"public, max-age=31536000, immutable"
_SHORT = b"public, max-age=300, must-revalidate"
#: Precompressed codings of the snippet's files, best first (br only with brotli).
_CODINGS = ("br", "gzip")
_TYPES = {"js": b"text/javascript; charset=utf-8", "css": b"text/css; charset=utf-8"}

Headers = list[tuple[bytes, bytes]]


class _Variant:
    """One encoding of a static file: its bytes and ETag."""

    __slots__ = ("body", "coding", "etag", "length")

    def __init__(self, body: bytes, coding: str, digest: str) -> None:
        self.body = body
        self.coding = coding
        suffix = "" if coding == "identity" else f"-{coding}"
        self.etag = f'"{digest[:16]}{suffix}"'.encode()
        self.length = str(len(body)).encode()


class _Asset:
    """One static file with its hash, URLs, ETags and precompressed variants."""

    def __init__(self, prefix: str, ext: str, name: str = "consentkit") -> None:
        self.body = resources.files("consentkit").joinpath(f"static/{name}.{ext}").read_bytes()
        digest = hashlib.sha256(self.body).hexdigest()
        self.plain = f"{prefix}/{name}.{ext}"
        self.hashed = f"{prefix}/{name}.{digest[:10]}.{ext}"
        self.content_type = _TYPES[ext]
        self.variants: dict[str, _Variant] = {"identity": _Variant(self.body, "identity", digest)}
        for coding in _CODINGS:
            packed = compress(self.body, coding)
            if packed is not None and len(packed) < len(self.body):
                self.variants[coding] = _Variant(packed, coding, digest)
        #: The codings on offer, best first.
        self.codings = [c for c in _CODINGS if c in self.variants]

    def response(
        self, hashed: bool, if_none_match: str | None, accept_encoding: str | None
    ) -> tuple[int, Headers, bytes]:
        variant = self.variants[negotiate(accept_encoding, self.codings)]
        headers: Headers = [
            (b"content-type", self.content_type),
            (b"cache-control", _YEAR if hashed else _SHORT),
            (b"etag", variant.etag),
            (b"vary", b"Accept-Encoding"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if if_none_match and _etag_matches(if_none_match, variant.etag.decode()):
            return 304, headers, b""
        if variant.coding != "identity":
            headers.append((b"content-encoding", variant.coding.encode()))
        headers.append((b"content-length", variant.length))
        return 200, headers, variant.body


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
        self._gpp = _Asset(prefix, "js", "consentkit-gpp")
        #: URL of the IAB ``__gpp`` API script (``us_opt_out`` pages only), with its hash.
        self.gpp_url: str = self._gpp.hashed
        self._paths: dict[str, tuple[_Asset, bool]] = {}
        for asset in (self._js, self._css, self._gpp):
            self._paths[asset.plain] = (asset, False)
            self._paths[asset.hashed] = (asset, True)

    def response(
        self, path: str, if_none_match: str | None, accept_encoding: str | None = None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """``(status, headers, body)`` for an asset path, or ``None`` if it is not one.

        Hashed URLs are cached for a year (``immutable``); the plain ones for a
        few minutes. The body is br or gzip (compressed once, at start-up)
        when ``Accept-Encoding`` allows, with ``Vary: Accept-Encoding`` and an
        ETag per encoding. A matching ``If-None-Match`` gets 304 with no body.
        """
        hit = self._paths.get(path)
        if hit is None:
            return None
        asset, hashed = hit
        return asset.response(hashed, if_none_match, accept_encoding)


#: Rules the banner does not use (the preferences dialog, the privacy page): left out of its
#: inline styles; the snippet loads the whole stylesheet when the dialog first opens.
_NOT_BANNER = (
    ".ck-dialog", ".ck-x", ".ck-page", ".ck-facts", ".ck-withdraw", ".ck-note", ".ck-body"
)  # fmt: skip


def _banner_css(css: str) -> str:
    """The stylesheet's rules the banner needs, without comments and most whitespace."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    kept, depth, start = [], 0, 0
    for i, char in enumerate(css):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                rule = css[start : i + 1].strip()
                selectors = rule.split("{", 1)[0].split(",")
                if not all(sel.strip().startswith(_NOT_BANNER) for sel in selectors):
                    kept.append(rule)
                start = i + 1
    text = re.sub(r"\s+", " ", "".join(kept))
    return re.sub(r" ?([{};]) ?", r"\1", text).replace(";}", "}")


def csp_allows_inline_style(header: str, nonce: str | None) -> bool:
    """Whether every policy in a Content-Security-Policy header lets a ``<style>`` apply.

    The ``<style>`` carries the request's nonce, if there is one.
    """
    for policy in header.split(","):
        directives: dict[str, list[str]] = {}
        for directive in policy.split(";"):
            words = directive.split()
            if words and words[0].lower() not in directives:
                directives[words[0].lower()] = words[1:]
        for name in ("style-src-elem", "style-src", "default-src"):
            sources = directives.get(name)
            if sources is not None:
                break
        else:
            continue
        if nonce and f"'nonce-{nonce}'" in sources:
            continue
        lowered = [source.lower() for source in sources]
        # 'unsafe-inline' counts for nothing beside a nonce or a hash.
        hashed = any(source.startswith(("'nonce-", "'sha")) for source in lowered)
        if "'unsafe-inline'" in lowered and not hashed:
            continue
        return False
    return True


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

    def __init__(
        self,
        banner: str,
        notice: str,
        opt_out_link: str,
        declaration: Declaration,
        reopen: str,
        reopen_style: bytes,
    ) -> None:
        # Literal parts at even indexes, placeholders at odd ones.
        self.banner = [part.encode() for part in _MARKS.split(banner)]
        #: The ``notice`` regime's informational notice, in the same form.
        self.notice = [part.encode() for part in _MARKS.split(notice)]
        #: The ``us_opt_out`` regime's "Do Not Sell or Share" link.
        self.opt_out_link = opt_out_link.encode()
        self.declaration = declaration
        #: The reopen button, bare (where the page's CSP refuses an inline <style>) ...
        self.reopen = reopen.strip().encode()
        #: ... and the rest of it after ``<style`` and the nonce: its styles, then the link.
        self.styled_reopen = b">" + reopen_style + b"</style>" + self.reopen


#: The reopen button: in the page's flow after its content on narrow screens, where it
#: covers nothing; fixed in a corner from 48em. Colours from the banner's custom properties.
_REOPEN_CSS = (
    ".ck-reopen{{display:table;margin:1.5rem auto;padding:.55rem 1rem;border-radius:2rem;"
    "font:600 15px/1.3 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#fff;background:var(--ck-acc,#1d4ed8);text-decoration:none;"
    "box-shadow:0 .25rem 1rem rgb(16 24 40/.25)}}"
    ".ck-reopen:hover{{background:#1e3a8a}}"
    ".ck-reopen:focus-visible{{outline:3px solid var(--ck-acc,#1d4ed8);outline-offset:2px}}"
    "@media (min-width:48em){{.ck-reopen{{position:fixed;z-index:2147482000;bottom:1rem;"
    "{side}:1rem;margin:0}}}}"
    "@media print{{.ck-reopen{{display:none}}}}"
)


def new_decision_id() -> str:
    """A fresh decision id for a form: 128 random bits, as 32 hex digits."""
    return secrets.token_hex(16)


def _decision_id() -> bytes:
    return secrets.token_hex(16).encode()


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
            defaults = default_commands(
                gcm,
                config.regions,
                self._required,
                ads_data_redaction=config.google_ads_data_redaction,
                url_passthrough=config.google_url_passthrough,
            )
            static_attrs += f' data-gcmd="{_attr(json.dumps(defaults, separators=(",", ":")))}"'
        static_attrs += f' data-css="{_attr(assets.css_url)}"'
        css = resources.files("consentkit").joinpath("static/consentkit.css").read_text("utf-8")
        # The banner stays transparent until it is parsed whole: were a frame painted halfway
        # through, the rest would grow it upwards (it sits at the bottom), a layout shift.
        # Transparent, not hidden: it must stay focusable for its autofocus.
        self._style = (_banner_css(css) + "#consentkit-banner{opacity:0}").encode()
        self._link = f'<link rel="stylesheet" href="{_attr(assets.css_url)}">'.encode()
        self._head = f'<script src="{_attr(assets.js_url)}" defer id="consentkit-js"'.encode()
        self._static_attrs = static_attrs.encode()
        stub = resources.files("consentkit").joinpath("static/consentkit-gpp-stub.js")
        self._gpp_stub = stub.read_bytes().replace(b"\n", b"").strip() + b"</script>"
        self._gpp_head = f'<script src="{_attr(assets.gpp_url)}" defer id="consentkit-gpp"'.encode()
        self._gpp_plain = b"<script>" + self._gpp_stub + self._gpp_head
        self._gpp_tails: dict[str, bytes] = {}
        self._granted_attrs: dict[tuple[bool, frozenset[str]], bytes] = {}
        self._tags = (
            ScriptTags(config.categories, frozenset(self._required), gcm)
            if any(c.scripts for c in config.categories)
            else None
        )
        self._head_tags = self._tags if self._tags is not None and self._tags.has_head else None
        self._reopen = config.reopen_button and config.insert_banner
        #: Whether a page's Content-Security-Policy lets an inline ``<style>`` apply, by the
        #: policy with the request's nonce taken out (the rest of a site's policy rarely varies).
        self._inline_style: dict[str, bool] = {}
        side = "right" if config.reopen_position == "bottom-right" else "left"
        reopen_style = _REOPEN_CSS.format(side=side).encode()
        banner = self._env.get_template("consentkit/banner.html")
        notice = self._env.get_template("consentkit/notice.html")
        link = self._env.get_template("consentkit/opt_out_link.html")
        reopen = self._env.get_template("consentkit/reopen.html")
        self._languages: dict[str, _Language] = {}
        for lang, declaration in declarations.items():
            context = self._context(declaration, next_path=_NEXT, decision_id=lambda: _DECISION)
            self._languages[lang] = _Language(
                banner.render(context),
                notice.render(context),
                link.render(context, opt_out_path=config.prefix + OPT_OUT_PATH),
                declaration,
                reopen.render(self._context(declaration)),
                reopen_style,
            )

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
        return self._script_tag(consent, nonce_attr)

    def _script_tag(self, consent: Consent, nonce_attr: bytes) -> bytes:
        return b"".join(
            (self._head, nonce_attr, self._static_attrs, self._script_state(consent), b"></script>")
        )

    def fragment(
        self,
        consent: Consent,
        lang: str,
        next_path: str,
        nonce: str | None,
        csp: str | None = None,
        regime: str = "opt_in",
    ) -> bytes:
        """HTML to insert before ``</body>``: the scripts, the snippet, what ``regime`` shows.

        The categories' ``"body_end"`` scripts come first (live or inert), then
        the snippet's tag (after the IAB ``__gpp`` tags under ``us_opt_out``).
        Then ``opt_in``: the banner, until the visitor decides. ``us_opt_out``:
        the "Do Not Sell or Share" link, always (no banner: nothing waits for
        a choice). ``notice``: an informational notice with a dismiss button,
        until it is dismissed. ``none``: nothing more. A visitor who decided
        gets the reopen button (``reopen_button``).

        The banner brings its styles in a ``<style>`` (with the nonce), so no
        stylesheet blocks the page; when ``csp`` (the response's
        Content-Security-Policy) would refuse that ``<style>``, a ``<link>``
        to the stylesheet takes its place. With ``insert_snippet=False`` the
        site prints `snippet_tags` itself and only the banner is inserted.
        """
        nonce_attr = f' nonce="{_attr(nonce)}"'.encode() if nonce else b""
        tags = b""
        if self._config.insert_snippet:
            tags = self._script_tag(consent, nonce_attr)
            if consent.gpp is not None:
                tags = self.gpp_tags(consent.gpp, nonce) + tags
        if self._tags is not None:
            tags = self._tags.body(consent.decided, consent.granted, nonce_attr) + tags
        if not self._config.insert_banner or regime == "none":
            return tags
        language = self._language(lang)
        if regime == "us_opt_out":
            tags += language.opt_out_link
        if consent.decided or regime == "us_opt_out":
            if not (consent.decided and self._reopen):
                return tags
            if csp and not self._allows_inline_style(csp, nonce):
                return tags + language.reopen
            return b"".join((tags, b"<style", nonce_attr, language.styled_reopen))
        next_attr = _attr(next_path).encode()
        banner = b"".join(
            part if not index % 2 else next_attr if part == _NEXT_MARK else _decision_id()
            for index, part in enumerate(language.notice if regime == "notice" else language.banner)
        )
        if csp and not self._allows_inline_style(csp, nonce):
            return tags + self._link + banner
        return b"".join(
            (tags, b"<style", nonce_attr, b">", self._style, b"</style>", banner,
             b"<style", nonce_attr, b">#consentkit-banner{opacity:1}</style>")
        )  # fmt: skip

    def _allows_inline_style(self, csp: str, nonce: str | None) -> bool:
        """`_csp_allows_inline_style`, remembered per policy (with ``'nonce-…'`` as a mark)."""
        key = csp.replace(f"'nonce-{nonce}'", "'nonce-\x00'") if nonce else csp
        allowed = self._inline_style.get(key)
        if allowed is None:
            allowed = csp_allows_inline_style(csp, nonce)
            if len(self._inline_style) < 256:
                self._inline_style[key] = allowed
        return allowed

    def head_fragment(self, consent: Consent, nonce: str | None) -> bytes:
        """HTML to insert before ``</head>``: the scripts categories place in ``"head"``."""
        if self._head_tags is None:
            return b""
        nonce_attr = f' nonce="{_attr(nonce)}"'.encode() if nonce else b""
        return self._head_tags.head(consent.decided, consent.granted, nonce_attr)

    def snippet_tags(self, consent: Consent, nonce: str | None) -> bytes:
        """The script tag, for a site that places it itself (deferred: it never blocks).

        Under the ``us_opt_out`` regime (``consent.gpp`` set) the IAB ``__gpp``
        stub and API script come first; a site that prints these tags in its
        ``<head>`` gives ad scripts the stub before they run.
        """
        if consent.gpp is None:
            return self._script(consent, nonce)
        return self.gpp_tags(consent.gpp, nonce) + self._script(consent, nonce)

    def gpp_tags(self, gpp: str, nonce: str | None) -> bytes:
        """The inline ``__gpp`` stub and the deferred API script fed with the GPP string ``gpp``."""
        tail = self._gpp_tails.get(gpp)
        if tail is None:
            tail = f' data-gpp="{_attr(gpp)}"></script>'.encode()
            if len(self._gpp_tails) < 64:  # a site has a handful of strings
                self._gpp_tails[gpp] = tail
        if not nonce:
            return self._gpp_plain + tail
        nonce_attr = f' nonce="{_attr(nonce)}"'.encode()
        return b"".join(
            (b"<script", nonce_attr, b">", self._gpp_stub, self._gpp_head, nonce_attr, tail)
        )

    def privacy_page(
        self, consent: Consent, lang: str, nonce: str | None, opt_out_path: str | None = None
    ) -> bytes:
        """The privacy overview as a complete HTML document.

        ``opt_out_path``: where the "Do Not Sell or Share" page is, when the
        request's regime offers one.
        """
        return self.document(
            "consentkit/privacy.html",
            consent,
            lang,
            nonce,
            next_path=self._config.privacy_path,
            opt_out_path=opt_out_path,
        )

    def document(
        self, template: str, consent: Consent, lang: str, nonce: str | None, **extra: Any
    ) -> bytes:
        """A complete page from ``template`` in language ``lang``, with the snippet.

        The context has the texts (``t``), the categories, the visitor's
        ``consent`` and ``granted`` keys, a ``decision_id()`` for forms and ``extra``.
        """
        language = self._language(lang)
        context = self._context(
            language.declaration,
            consent=consent,
            granted=consent.granted,
            decision_id=new_decision_id,
            nonce=nonce,
            css_url=self._assets.css_url,
            js_url=self._assets.js_url,
            snippet=Markup(self._script(consent, nonce).decode()),
            **extra,
        )
        return self._env.get_template(template).render(context).encode()
