"""Automatic blocking: gating the tags of third-party hosts in the HTML consentkit serves.

With ``ConsentConfig(auto_block=True)``, every ``<script src>``, ``<iframe src>``
and ``<img src>`` whose URL's host is listed in the ``hosts`` of a category the
visitor has not granted is rewritten, as the page streams through, into the
form the snippet activates once the category is granted:

- ``<script src="https://t.example/a.js">`` gets ``type="text/plain"`` (a
  ``type`` it had moves to ``data-type``) and ``data-consent="KEY"``; a browser
  fetches no script of that type;
- ``<iframe>`` and ``<img>`` get ``data-src`` (and ``data-srcset``) instead of
  ``src`` (``srcset``) and ``data-consent="KEY"``; an iframe is also hidden
  behind a placeholder (a box naming the category, a button that grants it with
  or without JavaScript, a link to the privacy page) rendered just before it.

Everything else passes byte for byte. `TagRewriter` is streaming: it holds back
only a tag cut by a message boundary (at most `MAX_TAG` bytes; a longer tag is
passed on untouched) and never rewrites inside ``<script>``, ``<style>``,
``<textarea>``, ``<title>`` or comments. Tags already gated (``type="text/plain"``
or any ``data-consent``) are left alone.

`AutoBlocker` is built once per middleware; `AutoBlocker.rules` gives the
(cached) `BlockRules` of a granted set, or ``None`` when nothing is blocked for
it (every hosted category granted): then the response is not touched at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from importlib import resources

from consentkit.config import Category
from consentkit.declaration import Declaration

_Scan = Callable[[bytes, tuple[bytes, ...], int], list[tuple[int, int, int, int]] | None]
_compiled_scan: _Scan | None
try:
    from consentkit._scan import scan as _compiled_scan
except ImportError:  # built without a C compiler: the pure-Python scan does it all
    _compiled_scan = None

__all__ = ["MAX_TAG", "AutoBlocker", "BlockRules", "Placeholders", "TagRewriter", "url_host"]

#: A start tag longer than this (bytes) is passed on untouched rather than held.
MAX_TAG = 16 * 1024
# Rule sets kept per middleware (one per distinct set of denied hosted categories).
_MAX_RULES = 256

# Where the text stops being markup: a comment, or an element whose content is text
# (`_MARKER`, searched for in the lowercased body); a name must end there (a space, "/"
# or ">"). (The obsolete <xmp>, <noembed> and <noframes> are not among them: nothing in
# them loads.)
_NAME_END = frozenset(b"\t\n\f\r />")
# How far back from the end of a part a cut tag is looked for (longer ones are rare).
_TAIL = 4096
# The end tags that close those elements' text (searched for in the lowercased body).
_RAW_END = {name: b"</" + name for name in (b"script", b"style", b"textarea", b"title")}
_SPACE = b" \t\n\f\r"
_JS_TYPES = frozenset(
    {
        "", "module", "text/javascript", "application/javascript", "application/ecmascript",
        "text/ecmascript", "application/x-javascript", "text/jscript", "text/x-javascript",
    }
)  # fmt: skip


# scheme (or none: protocol-relative), user info, host, port; the rest is not needed.
_URL = re.compile(
    r"[ \t\n\f\r]*(?:(https?):)?//(?:[^/?#\\@]*@)?([^/?#\\:\[ \t\n\f\r]*)(?::([0-9]{1,5}))?"
    r"(?=[/?#\\ \t\n\f\r]|$)",
    re.IGNORECASE,
)


def url_host(url: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of an absolute or protocol-relative http(s) URL, else ``None``.

    The host is lowercased; the port is ``None`` when the URL names none.
    """
    found = _parse_url(url)
    return (found[0], found[1]) if found is not None else None


def _parse_url(url: str) -> tuple[str, int | None, str] | None:
    """``(host, port, scheme)``: the scheme lowercased, ``""`` for a protocol-relative URL."""
    match = _URL.match(url)
    if match is None:
        return None
    host = match[2].rstrip(".").lower()
    if not host:
        return None
    port = match[3]
    return host, int(port) if port else None, (match[1] or "").lower()


class BlockRules:
    """Which hosts are blocked for one set of granted categories, and by which category.

    A host entry matches the host name on any port unless it names one
    (``host:8080`` matches that port only, and ``host:443`` an https URL without
    a port; ``host:*`` is any port). Blocking errs on the side of blocking: a
    CSP source without a port allows only the default one. ``*.example.com`` matches every
    subdomain of ``example.com`` (not ``example.com`` itself), as in CSP.
    """

    __slots__ = ("_exact", "_gates", "_wild", "keys", "needles")

    def __init__(self, categories: Iterable[Category]) -> None:
        # What a tag (its exact bytes) with a blocked host's name in it becomes under these
        # rules, for tags seen before (``()``: left alone): see `TagRewriter`. Bounded
        # (`_MAX_GATES` tags of at most `_MAX_GATE_TAG` bytes).
        self._gates: dict[bytes, _Gate | tuple[()]] = {}
        self._exact: dict[str, list[tuple[int | None, str]]] = {}
        self._wild: dict[str, list[tuple[int | None, str]]] = {}
        keys: list[str] = []
        for category in categories:
            keys.append(category.key)
            for source in category.hosts:
                name, _, port_text = source.partition(":")
                port = int(port_text) if port_text and port_text != "*" else None
                table = self._exact
                if name.startswith("*."):
                    name, table = name[2:], self._wild
                table.setdefault(name, []).append((port, category.key))
        #: The categories whose hosts are blocked.
        self.keys = tuple(keys)
        names = {*self._exact, *("." + name for name in self._wild)}
        #: What a page must contain (lowercased) for a tag to be blocked: each host name,
        #: ``.example.com`` for ``*.example.com``; none that contains another.
        self.needles = tuple(
            sorted(
                name.encode()
                for name in names
                if not any(other != name and other in name for other in names)
            )
        )

    @staticmethod
    def _pick(entries: list[tuple[int | None, str]] | None, port: int | None) -> str | None:
        if entries:
            for wanted, key in entries:
                if wanted is None or wanted == port:
                    return key
        return None

    def category_of(self, url: str) -> str | None:
        """The key of the blocked category a URL's host belongs to, or ``None``."""
        found = _parse_url(url)
        if found is None:
            return None
        host, port, scheme = found
        if port is None:
            port = 443 if scheme == "https" else 80 if scheme == "http" else None
        key = self._pick(self._exact.get(host), port)
        if key is not None or not self._wild:
            return key
        dot = host.find(".")
        while dot >= 0:
            key = self._pick(self._wild.get(host[dot + 1 :]), port)
            if key is not None:
                return key
            dot = host.find(".", dot + 1)
        return None


#: ``placeholder(category_key, host) -> HTML`` put before a blocked iframe.
Placeholder = Callable[[str, str], bytes]


class AutoBlocker:
    """The blocking rules of one middleware, precomputed per set of granted categories."""

    def __init__(self, categories: Sequence[Category]) -> None:
        self._hosted = tuple(c for c in categories if c.hosts and not c.required)
        self._keys = frozenset(c.key for c in self._hosted)
        self._rules: dict[frozenset[str], BlockRules] = {}

    @property
    def active(self) -> bool:
        """Whether any optional category lists hosts (else nothing is ever blocked)."""
        return bool(self._hosted)

    def rules(self, granted: frozenset[str]) -> BlockRules | None:
        """The rules for a visitor who granted ``granted``; ``None``: nothing to block."""
        denied = self._keys - granted
        if not denied:
            return None
        rules = self._rules.get(denied)
        if rules is None:
            rules = BlockRules(c for c in self._hosted if c.key in denied)
            if len(self._rules) >= _MAX_RULES:
                del self._rules[next(iter(self._rules))]
            self._rules[denied] = rules
        return rules


class _Attr:
    """One attribute of a start tag: its lowered name and where its value lies."""

    __slots__ = ("end", "name", "start", "value", "value_end", "value_start")

    def __init__(
        self, name: str, start: int, end: int, value: str | None, vstart: int, vend: int
    ) -> None:
        self.name = name
        self.start = start
        self.end = end
        self.value = value
        self.value_start = vstart
        self.value_end = vend


_VALUE = rb"(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)"
# One attribute (the HTML tokenizer's rules: a name runs to a space, "/", ">" or "=", and
# may start with "="; an "=" after a name must be followed by a value; quotes count only at
# the start of a value) and a whole start tag after its name, up to its ">"; possessive, so
# an unfinished tag (an open quote) fails at once.
_ATTR = re.compile(
    rb"[\t\n\f\r /]*+([^\t\n\f\r />][^\t\n\f\r />=]*+)(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+("
    + _VALUE
    + rb")|(?![\t\n\f\r ]*+=))"
)
_TAG_END = re.compile(
    rb"(?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"
    + _VALUE
    + rb"|(?![\t\n\f\r ]*+=)))*+[\t\n\f\r /]*+>"
)


# The attributes blocking looks at (names as in the lowercased body).
_WANTED = frozenset({b"src", b"srcset", b"type", b"data-consent", b"hidden"})


def _parse_attrs(low: bytes, name_end: int, end: int) -> list[_Attr]:
    """The attributes blocking looks at (`_WANTED`) of the start tag ``low[:end]`` whose
    name ends at ``name_end``, in the lowercased body ``low``.

    Follows the HTML tokenizer: quotes count only at the start of a value, so
    ``>`` inside a quoted value does not end the tag.
    """
    attrs: list[_Attr] = []
    for found in _ATTR.finditer(low, name_end, end - 1):
        raw = found.group(1)
        if raw not in _WANTED:
            continue
        name = raw.decode("ascii")
        vstart, vend = found.span(2)
        if vstart < 0:
            attrs.append(_Attr(name, found.start(1), found.end(), None, found.end(), found.end()))
            continue
        if low[vstart] in b"\"'":
            vstart += 1
            vend -= 1
        value = low[vstart:vend].decode("utf-8", "replace")
        attrs.append(_Attr(name, found.start(1), found.end(), value, vstart, vend))
    return attrs


def _gated(attrs: Sequence[_Attr]) -> bool:
    for attr in attrs:
        if attr.name == "data-consent":
            return True
        if attr.name == "type" and (attr.value or "").strip().lower() == "text/plain":
            return True
    return False


def _srcset_category(rules: BlockRules, value: str) -> str | None:
    for candidate in value.split(","):
        url = candidate.strip().split(" ", 1)[0]
        key = rules.category_of(url) if url else None
        if key is not None:
            return key
    return None


class TagRewriter:
    """Rewrites one HTML body, fed in as many parts as it arrives in.

    ``feed(chunk)`` returns the bytes that can be sent now; ``finish()`` the
    rest. Concatenated, the output is the input with every blocked tag gated.

    Speed comes from doing as much as possible in C, once: the body is
    lowercased, the last place of each blocked host's name found (``rfind``; a
    body without any is returned as it is), and one regular expression then
    finds, up to that place (in a part fed in, to its end), the comments, the
    elements whose text is skipped (``<script>``, ``<style>``, ``<textarea>``,
    ``<title>``: each skipped whole with one search for its end tag) and the
    ``<img>`` and ``<iframe>`` tags. What a tag with a host name in it becomes
    is kept per rule set (`BlockRules`), keyed by its exact bytes, so a tag
    seen before costs a dictionary lookup, with no parsing; a tag without a
    host name is told apart by looking for the names a window ahead at a time.
    """

    __slots__ = ("_blocked", "_held", "_mode", "_needles", "_placeholder", "_rules")

    def __init__(self, rules: BlockRules, placeholder: Placeholder) -> None:
        self._rules = rules
        self._needles = rules.needles
        self._placeholder = placeholder
        self._held = b""
        # None: markup; b"--": inside a comment; otherwise the name of the element whose
        # text is being skipped.
        self._mode: bytes | None = None
        self._blocked = 0

    @property
    def blocked(self) -> int:
        """How many tags were gated so far."""
        return self._blocked

    def feed(self, chunk: bytes) -> bytes:
        """Take the next part of the body; return what is ready to send."""
        return self._run(self._held + chunk if self._held else chunk, False)

    def rewrite(self, body: bytes) -> bytes:
        """A whole body at once: what ``feed(body) + finish()`` gives, in one call.

        A body without any blocked host's name in a tag that loads is returned
        as it is (the same object).
        """
        if self._held or self._mode is not None:
            return self.feed(body) + self.finish()
        if _compiled_scan is not None:
            found = _compiled_scan(body, self._needles, MAX_TAG)
            if found is not None:
                return self._gate_found(body, found)
        low = body.lower()
        # Nothing after the last name needs looking at (a tag that holds it ends after it).
        last = max([low.rfind(needle) for needle in self._needles], default=-1)
        if last < 0:
            return body
        return self._run(body, True, low, last)

    def _gate_found(self, body: bytes, found: list[tuple[int, int, int, int]]) -> bytes:
        """Gate the tags the compiled scan found: ``(kind, start, name_end, end)`` each."""
        rules = self._rules
        gates = rules._gates
        out: list[bytes] = []
        emitted = 0
        for _kind, start, name_end, end in found:
            tag = body[start:end]
            gate = gates.get(tag)
            if gate is None:
                gate = _gated_tag(rules, tag, tag.lower(), 0, end - start, name_end - start) or ()
                _keep(gates, tag, gate)
            if gate:
                out.append(body[emitted:start])
                self._blocked += 1
                text, key, host = gate
                if host is not None:
                    out.append(self._placeholder(key, host))
                out.append(text)
                emitted = end
        if not emitted:
            return body
        out.append(body[emitted:])
        return b"".join(out)

    def finish(self) -> bytes:
        """The end of the body: everything still held back."""
        held, self._held = self._held, b""
        return self._run(held, True) if held else b""

    def _run(self, buf: bytes, final: bool, low: bytes | None = None, last: int = -1) -> bytes:
        self._held = b""
        if low is None:
            low = buf.lower()
        n = len(buf)
        out: list[bytes] = []
        emitted = 0  # buf[:emitted] is in out
        pos = 0  # where the markup scan goes on from
        if self._mode is not None:
            pos = self._close(low, pos)
            if pos < 0:
                return self._hold_text(buf, 0, 0, final, out)
        gates = self._rules._gates
        needles = self._needles
        # No host name lies whole in low[clear_from:clear_to]: a tag inside holds none (what
        # spares most tags without one, local images say, looking for every name in each).
        clear_from = clear_to = 0
        # The comments, text-only elements and tags that may load something, in order.
        for found in _SCAN.finditer(low, pos, last if last >= 0 else n):
            start, name_end = found.span()
            if start < pos:
                continue  # inside what was skipped or gated
            kind = found.lastindex
            if kind is None:  # a comment; "<!-->" and "<!--->" are whole ones
                if name_end + 2 > n and not final:
                    out.append(buf[emitted:start])
                    self._held = buf[start:]
                    return b"".join(out)
                if low.startswith(b">", name_end):
                    pos = name_end + 1
                    continue
                if low.startswith(b"->", name_end):
                    pos = name_end + 2
                    continue
                close = low.find(b"-->", name_end)
                if close < 0:
                    self._mode = b"--"
                    return self._hold_text(buf, emitted, name_end, final, out)
                pos = close + 3
                continue
            if name_end < n and low[name_end] not in _NAME_END:
                continue  # "<scripts", "<images": another element
            gate: _Gate | tuple[()] | None = None
            first_gt = 0
            if kind != 2:
                # A tag seen before ends at its first ">" (a kept tag with a ">" before its
                # end cannot be equal to bytes that end at their first one): no parsing.
                end = first_gt = low.find(b">", name_end) + 1
                if end:
                    gate = gates.get(buf[start:end])
            if gate is None:
                whole = _TAG_END.match(low, name_end)
                if whole is None:  # cut off at the end of the part
                    if final or n - start > MAX_TAG:
                        if kind != 3:
                            out.append(buf[emitted:])
                            return b"".join(out)
                        continue  # cut off at the very end, or too long: untouched
                    if kind != 3:
                        out.append(buf[emitted:start])
                        self._held = buf[start:]
                        return b"".join(out)
                    return self._end(buf, low, out, emitted, pos, MAX_TAG, start)
                end = whole.end()
                # A tag longer than MAX_TAG passes untouched, however the body was cut.
                if kind != 2 and end - start <= MAX_TAG:
                    if end != first_gt:  # a ">" in a quoted value: looked up by all of it
                        gate = gates.get(buf[start:end])
                    if gate is None:
                        if start < clear_from or end > clear_to:
                            clear_from = start
                            clear_to = max(start + _NEAR, end)
                            for needle in needles:
                                at = low.find(needle, start, clear_to)
                                if at >= 0:
                                    clear_to = at
                        if end > clear_to:
                            gate = self._lookup(buf, low, start, end, name_end)
                        else:
                            gate = ()  # no host name in it (a local image, a script...)
                else:
                    gate = ()
            if gate and (kind == 1 or not _inside_a_tag(low, start)):
                out.append(buf[emitted:start])
                self._blocked += 1
                text, key, host = gate
                if host is not None:
                    out.append(self._placeholder(key, host))
                out.append(text)
                emitted = pos = end
            if kind != 3:  # an element whose text is skipped: find where it ends
                name = found.group(kind)
                end_tag = _RAW_END[name]
                close = low.find(end_tag, end)
                if close < 0:
                    self._mode = name
                    return self._hold_text(buf, emitted, end, final, out)
                pos = close + len(end_tag)
        if final:
            out.append(buf[emitted:])
            return b"".join(out)
        return self._end(buf, low, out, emitted, pos, _TAIL)

    def _close(self, low: bytes, pos: int) -> int:
        """Where the comment or text-only element being skipped ends, after ``pos``; -1: not
        in this part. Back in markup if found."""
        mode = self._mode
        if mode == b"--":
            end = low.find(b"-->", pos)
            if end < 0:
                return -1
            end += 3
        else:
            assert mode is not None
            end_tag = _RAW_END[mode]
            end = low.find(end_tag, pos)
            if end < 0:
                return -1
            end += len(end_tag)
        self._mode = None
        return end

    def _hold_text(
        self, buf: bytes, emitted: int, pos: int, final: bool, out: list[bytes]
    ) -> bytes:
        """The end of a part inside skipped text: hold back what could start its end."""
        mode = self._mode
        hold = 2 if mode == b"--" else len(_RAW_END[mode or b"script"]) - 1
        n = len(buf)
        cut = n if final else max(pos, n - hold)
        out.append(buf[emitted:cut])
        self._held = buf[cut:]
        return b"".join(out)

    def _end(
        self,
        buf: bytes,
        low: bytes,
        out: list[bytes],
        emitted: int,
        pos: int,
        window: int,
        cut: int = -1,
    ) -> bytes:
        """The end of a part, in markup: hold back a start tag cut in two (within ``window``);
        from ``cut`` at least, when that is where one is known to start."""
        n = len(buf)
        tail = max(pos, n - window)
        if cut < 0:
            cut = n
            last = low.rfind(b"<", tail)
            if last >= 0 and low.find(b">", last) < 0:
                cut = last
        # A start tag not ended yet, and any tag whose attribute value it is in (one that ends
        # past the cut, or not in this part).
        start = low.rfind(b"<", tail, cut)
        while start >= 0:
            if start + 1 < n and 0x61 <= low[start + 1] <= 0x7A:
                whole = _TAG_END.match(low, _name_end(low, start + 2, n))
                if whole is not None and whole.end() <= cut:
                    break
                cut = start
            start = low.rfind(b"<", tail, start)
        out.append(buf[emitted:cut])
        self._held = buf[cut:]
        return b"".join(out)

    def _lookup(
        self, buf: bytes, low: bytes, start: int, end: int, name_end: int
    ) -> _Gate | tuple[()]:
        """How the start tag ``buf[start:end]``, not kept yet, is gated; ``()``: left alone."""
        text = low[name_end:end]
        for needle in self._needles:
            if needle in text:
                break
        else:
            return ()  # no blocked host's name in it (not kept: they may be many)
        gate = _gated_tag(self._rules, buf, low, start, end, name_end) or ()
        _keep(self._rules._gates, buf[start:end], gate)
        return gate


#: What a start tag becomes: ``(gated tag, category key, host)``; the host (of an iframe
#: that gets a placeholder) is ``None`` when no placeholder goes before it.
_Gate = tuple[bytes, str, str | None]
# How far ahead host names are looked for from a tag without a kept form.
_NEAR = 1024
# Gated tags kept per rule set, and the longest tag kept.
_MAX_GATES = 256
_MAX_GATE_TAG = 1024
# What the scan stops at: a comment, a script (group 1: gated, and its text skipped), another
# element whose text is skipped (group 2) or a tag that may load something (group 3); a name
# must end there. (The look-ahead and the common prefixes factored out make `re` twice as
# fast: most "<" are turned away at once.)
_SCAN = re.compile(rb"<(?=[!sti])(?:!--|(script)|(style|t(?:extarea|itle))|(i(?:mg|frame)))")


def _keep(gates: dict[bytes, _Gate | tuple[()]], tag: bytes, gate: _Gate | tuple[()]) -> None:
    """Remember what ``tag`` becomes (a bounded number of tags, each not too long)."""
    if len(tag) <= _MAX_GATE_TAG:
        if len(gates) >= _MAX_GATES:
            del gates[next(iter(gates))]
        gates[tag] = gate


def _gated_tag(
    rules: BlockRules, buf: bytes, low: bytes, start: int, end: int, name_end: int
) -> _Gate | None:
    """How the start tag ``buf[start:end]`` is gated under ``rules``; ``None``: left alone."""
    name = low[start + 1 : name_end]
    attrs = _parse_attrs(low, name_end, end)
    if _gated(attrs):
        return None
    src = next((a for a in attrs if a.name == "src"), None)
    key = rules.category_of(src.value) if src is not None and src.value else None
    srcset = next((a for a in attrs if a.name == "srcset"), None) if name == b"img" else None
    if key is None and srcset is not None and srcset.value:
        key = _srcset_category(rules, srcset.value)
    if key is None:
        return None
    tag = buf[start:end]
    # Edits as (offset in tag, bytes removed, bytes inserted), applied from the end;
    # new attributes go right after the name, where nothing can be cut in two.
    edits: list[tuple[int, int, bytes]] = []
    close = name_end - start
    added = b' data-consent="' + key.encode() + b'"'
    if name == b"script":
        kind = next((a for a in attrs if a.name == "type"), None)
        if kind is not None and (kind.value or "").strip().lower() not in _JS_TYPES:
            return None  # JSON, a template...: no fetch to stop
        if kind is not None:
            edits.append((kind.start - start, kind.end - kind.start, b""))
            value = buf[kind.value_start : kind.value_end]
            if value:
                added += b' data-type="' + value.replace(b'"', b"&quot;") + b'"'
        added = b' type="text/plain"' + added
    else:
        for attr in (src, srcset):
            if attr is not None:
                edits.append((attr.start - start, 0, b"data-"))
        if name == b"iframe" and not any(a.name == "hidden" for a in attrs):
            added += b" hidden"
            host = url_host(src.value) if src is not None and src.value else None
            return _apply(tag, edits, close, added), key, host[0] if host else ""
    return _apply(tag, edits, close, added), key, None


def _name_end(low: bytes, i: int, limit: int) -> int:
    while i < limit and low[i] not in _NAME_END:
        i += 1
    return i


def _inside_a_tag(low: bytes, start: int) -> bool:
    """Whether ``<`` at ``start`` is inside the quoted attribute value of the tag before it."""
    before = low.rfind(b"<", max(0, start - MAX_TAG), start)
    if before < 0 or not 0x61 <= low[before + 1] <= 0x7A:
        return False
    enclosing = _TAG_END.match(low, _name_end(low, before + 2, start))
    return enclosing is None or enclosing.end() > start


def _apply(tag: bytes, edits: list[tuple[int, int, bytes]], close: int, added: bytes) -> bytes:
    edits.append((close, 0, added))
    edits.sort(key=lambda e: e[0], reverse=True)
    for at, removed, inserted in edits:
        tag = tag[:at] + inserted + tag[at + removed :]
    return tag


# Placeholders kept rendered (by language, granted set, page, category and host).
_MAX_RENDERED = 256

#: Rules of consentkit.css a placeholder uses (the box is a ``.ck-note``).
_PLACEHOLDER_RULES = (".ck", ".ck *", ".ck a", ".ck :focus-visible", ".ck-text", ".ck-row",
                      ".ck-btn", ".ck-btn:hover", ".ck-link", ".ck-note")  # fmt: skip


def _rules_for(css: str, selectors: Sequence[str]) -> str:
    """The rules of ``css`` whose every selector is one of ``selectors``, minified."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    kept: list[str] = []
    for rule in re.findall(r"[^{}]+\{[^{}]*\}", css):
        head = rule.split("{", 1)[0]
        if all(" ".join(sel.split()) in selectors for sel in head.split(",")):
            kept.append(rule.strip())
    text = re.sub(r"\s+", " ", "".join(kept))
    return re.sub(r" ?([{};]) ?", r"\1", text).replace(";}", "}")


class _Language:
    """One language's pieces of the placeholder."""

    __slots__ = ("direction", "labels", "lang", "texts")

    def __init__(self, declaration: Declaration) -> None:
        self.lang = declaration.lang
        self.direction = declaration.direction
        self.texts = declaration.texts
        self.labels: dict[str, str] = {c["key"]: c["label"] for c in declaration.data["categories"]}


class Placeholders:
    """The boxes put before blocked iframes, for every configured language.

    A box says which host the frame is from and which category it needs, and
    holds a form granting that category (``action=custom`` with the visitor's
    other granted categories, ``surface=embed``) that works without
    JavaScript; the snippet sends the same choice with ``fetch`` and loads the
    frame without a reload. A privacy link says more. The first box of a page
    brings its styles: a ``<style>`` (with the request's nonce) or, when the
    page's Content-Security-Policy would refuse one, a ``<link>`` to the stylesheet.
    Boxes are kept rendered (the last 256, by language, granted categories,
    page, category and host); only their text's id is numbered per page.
    """

    def __init__(
        self,
        declarations: Mapping[str, Declaration],
        default_language: str,
        prefix: str,
        privacy_path: str,
        css_url: str,
    ) -> None:
        self._languages = {lang: _Language(d) for lang, d in declarations.items()}
        self._default = self._languages.get(default_language) or next(
            iter(self._languages.values())
        )
        self._prefix = escape(prefix)
        self._privacy = escape(privacy_path)
        self._link = f'<link rel="stylesheet" href="{escape(css_url)}">'.encode()
        self._rendered: dict[tuple[tuple[str, tuple[str, ...], str], str, str], list[bytes]] = {}
        css = resources.files("consentkit").joinpath("static/consentkit.css").read_text("utf-8")
        self._style = (
            _rules_for(css, _PLACEHOLDER_RULES)
            + ".ck-ph{margin:1rem 0}.ck-ph .ck-row{align-items:center}"
        ).encode()

    def for_request(
        self,
        lang: str,
        granted: Iterable[str],
        required: frozenset[str],
        next_path: str,
        nonce: str | None,
        inline_style: bool,
    ) -> Placeholder:
        """The `Placeholder` callable of one response (its parts are worked out on the first
        call: most pages have no blocked frame)."""
        rendered = self._rendered
        count = 0
        context: tuple[_Language, list[str], tuple[str, tuple[str, ...], str]] | None = None

        def placeholder(key: str, host: str) -> bytes:
            nonlocal count, context
            if context is None:
                language = self._languages.get(lang, self._default)
                kept = sorted(k for k in granted if k not in required)
                # A page's boxes for one host and category differ only in their text's id;
                # they are kept across requests (a bounded number) by all else they depend on.
                context = (language, kept, (language.lang, tuple(kept), next_path))
            language, kept, page = context
            parts = rendered.get((page, key, host))
            if parts is None:
                html = self.html(language, key, host, kept, next_path, "\x00")
                parts = html.encode().split(b"\x00")
                if len(rendered) >= _MAX_RENDERED:
                    del rendered[next(iter(rendered))]
                rendered[(page, key, host)] = parts
            count += 1
            box = f"ck-ph-{count}".encode().join(parts)
            if count > 1:
                return box
            if not inline_style:
                return self._link + box
            nonce_attr = f' nonce="{escape(nonce)}"' if nonce else ""
            return b"<style" + nonce_attr.encode() + b">" + self._style + b"</style>" + box

        return placeholder

    def html(
        self,
        language: _Language,
        key: str,
        host: str,
        granted: Sequence[str],
        next_path: str,
        text_id: str,
    ) -> str:
        """One box: why the frame is blocked, a button granting ``key``, a privacy link."""
        label = language.labels.get(key, key)
        texts = language.texts
        message = texts["embed_blocked"].replace("{category}", label).replace("{host}", host)
        boxes = "".join(
            f'<input class="ck-sw" type="checkbox" name="category" value="{escape(k)}"'
            " checked hidden>"
            for k in sorted({*granted, key})
        )
        return (
            f'<div class="ck ck-note ck-ph" lang="{escape(language.lang)}"'
            f' dir="{language.direction}" role="group" aria-label="{escape(label)}">'
            f'<p class="ck-text" id="{text_id}">{escape(message)}</p>'
            f'<form class="ck-row" method="post" action="{self._prefix}">'
            f'<input type="hidden" name="next" value="{escape(next_path)}">'
            '<input type="hidden" name="surface" value="embed">'
            f"{boxes}"
            '<button class="ck-btn" type="submit" name="action" value="custom"'
            f' aria-describedby="{text_id}">{escape(texts["embed_allow"])}</button>'
            f'<a class="ck-link" href="{self._privacy}">{escape(texts["privacy_link"])}</a>'
            "</form></div>"
        )
