"""Path rules: which section a page belongs to, and which paths are not counted.

A rule is either a prefix (``"/reports"`` matches ``/reports`` and everything
below it, on a segment boundary) or a glob (``"/reports/*/annex"``: ``*`` and
``?`` stay within one path segment, ``**`` crosses segments). A glob also
matches everything below what it matches, like a prefix does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["HOME_SECTION", "PathRule", "SectionMap", "default_section"]

#: The section of ``/``.
HOME_SECTION = "home"
_GLOB_CHARS = frozenset("*?[")


class PathRule:
    """One prefix or glob rule, compiled once."""

    __slots__ = ("_prefix", "_regex", "pattern")

    def __init__(self, pattern: str) -> None:
        if not pattern.startswith("/"):
            pattern = "/" + pattern
        self.pattern = pattern
        self._regex: re.Pattern[str] | None = None
        self._prefix = ""
        if _GLOB_CHARS.intersection(pattern):
            self._regex = re.compile(_glob_to_regex(pattern.rstrip("/") or "/"))
        else:
            self._prefix = pattern.rstrip("/")

    def matches(self, path: str) -> bool:
        """Whether ``path`` (no query string) falls under this rule."""
        if self._regex is not None:
            return self._regex.match(path) is not None
        prefix = self._prefix
        if not prefix:  # the rule "/" matches every path
            return True
        return path == prefix or path.startswith(prefix + "/")

    def __repr__(self) -> str:
        return f"PathRule({self.pattern!r})"


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "(?:/.*)?$"


def default_section(path: str) -> str:
    """The first path segment of ``path``; ``"home"`` for ``/``."""
    segment = path.lstrip("/").split("/", 1)[0]
    return segment or HOME_SECTION


class SectionMap:
    """Maps a path to its section, or to ``None`` when the path is not counted.

    ``sections`` is ordered (rule, section) pairs: the first matching rule wins,
    else the first path segment names the section. A path under one of
    ``exclude`` (prefix or glob rules) gives ``None``.
    """

    __slots__ = ("_exclude", "_sections")

    def __init__(self, sections: Iterable[tuple[str, str]], exclude: Iterable[str] = ()) -> None:
        self._sections = [(PathRule(rule), name) for rule, name in sections]
        self._exclude = [PathRule(rule) for rule in exclude]

    def section(self, path: str) -> str | None:
        """The section of ``path``, or ``None`` when it is excluded."""
        for rule in self._exclude:
            if rule.matches(path):
                return None
        for rule, name in self._sections:
            if rule.matches(path):
                return name
        return default_section(path)
