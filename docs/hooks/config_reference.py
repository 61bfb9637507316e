"""MkDocs hook: the configuration reference, generated from consentkit's pydantic models.

A page that contains ``<!-- consentkit:config-reference -->`` (optionally followed by a
generated reference and ``<!-- /consentkit:config-reference -->``) gets, in its place, one table
per model (`ConsentConfig`, `Category`, `Cookie`, `Script`, `AnalyticsConfig`): every field, its
type as written in ``consentkit/config.py``, its default as the model has it, and a description.

Descriptions come, in order, from the field's ``description=``, from the ``#:`` comment above
the field in ``config.py``, or from `EXTRA` below. A field with none of them is reported as
a warning, which fails ``mkdocs build --strict`` (run by ``tests/docs/test_mkdocs.py``); so
does an `EXTRA` entry for a field that no longer exists. The reference therefore cannot drift
from the code: it is rebuilt from the models on every build.

``docs/configuration.md`` also keeps a generated copy between the two markers, so the tables
can be read on GitHub; ``python docs/hooks/config_reference.py`` (``make config-reference``)
rewrites it, ``--check`` exits 1 when it is out of date (``tests/docs/test_config_reference.py``).
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from consentkit import config as config_module

MARKER = "<!-- consentkit:config-reference -->"
END_MARKER = "<!-- /consentkit:config-reference -->"
PAGE = Path(__file__).resolve().parents[1] / "configuration.md"
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
MODELS = ("ConsentConfig", "Category", "Cookie", "Script", "AnalyticsConfig")
log = logging.getLogger("mkdocs.plugins.consentkit.config_reference")

#: Descriptions of fields that have no ``#:`` comment in ``config.py``.
EXTRA: dict[str, dict[str, str]] = {
    "ConsentConfig": {
        "secret_keys": "Signing keys, each at least 32 bytes. The first signs; all verify, so "
        "keys can be rotated. Empty: read from `CONSENTKIT_SECRET_KEYS` (comma-separated).",
        "secret_key": "One key, a shorthand for `secret_keys=[key]` (it is put first).",
        "policy_version": "The version of your cookie policy. Change it and every visitor is "
        "asked again (their consent id is kept).",
        "categories": "The categories a visitor can accept or refuse (at least one). Category "
        "keys and cookie names must be unique.",
        "storage": "Where the consent log and analytics live: `sqlite:///path.db` or "
        "`postgresql://user@host/db`.",
        "analytics": "Consent-gated first-party analytics; `None` switches them off.",
        "cookie_name": "The consent cookie's name.",
        "cookie_domain": "`Domain` of the consent cookie, so that one decision covers a site's "
        "subdomains (`example.org` covers `www.example.org`).",
        "cookie_path": "`Path` of the consent cookie.",
        "consent_lifetime": "How long a decision is remembered (the cookie's `Max-Age`). "
        "Default about six months; more than 13 months (395 days) is refused.",
        "prefix": "Where consentkit's own endpoints live (`GET/POST/DELETE {prefix}`, the "
        "snippet, the dashboard).",
        "privacy_path": "The path of the generated privacy overview page.",
        "undeclared_cookies": "What happens to a cookie no category declares: `allow` it, "
        "`warn` (let it through, logging a warning once per name) or `block` it.",
        "insert_snippet": "Insert the snippet's deferred `<script>` into every HTML page.",
        "insert_banner": "Insert the server-rendered banner into HTML pages of undecided visitors.",
        "default_language": "The language used when `Accept-Language` names none of `languages`.",
        "languages": "The languages offered to visitors; default: all 35 shipped ones (see "
        "[Languages](templates.md#languages)). A language without shipped texts needs every "
        "text in `texts`, or start-up fails.",
    },
    "Category": {
        "key": "A lowercase slug (`analytics`), used in the API, the cookie and the log.",
        "label": "The name a visitor sees.",
        "description": "What the category is for, in the visitor's words.",
        "required": "Always granted, cannot be refused (strictly necessary cookies).",
        "cookies": "The cookies this category sets; the middleware drops them until the "
        "category is granted.",
        "gpc_opt_out": "Refused when the browser sends Global Privacy Control (`Sec-GPC: 1`). "
        "Always false for required categories.",
    },
    "Cookie": {
        "name": "The cookie's exact name, or a prefix ending in `*` (`_ga*`).",
        "provider": "Who sets it; empty means this website.",
        "purpose": "What it is for, shown on the privacy page.",
        "duration": "How long it lives, as shown to visitors (`13 months`, `session`).",
    },
    "AnalyticsConfig": {
        "category": "The category that must be granted for a visit to be counted.",
        "sections": "Ordered path rules to section names: a prefix (`/reports`) or a glob "
        "(`/reports/*/annex`); first match wins, else the first path segment.",
        "exclude": "Path rules never counted.",
        "count_without_consent": "Count anonymous page views (no cookie, no identifier) of "
        "visitors who did not consent: the audience-measurement exemption some regulators "
        "allow.",
        "retention_days": "Daily rollups older than this are purged (default 25 months).",
        "cookie_name": "The first-party visitor cookie's name.",
        "cookie_max_age": "The visitor cookie's lifetime; at most 13 months, never extended.",
        "flush_interval": "Seconds between writes of buffered page views.",
        "batch_size": "Buffered views that trigger a write before the interval.",
        "queue_size": "The most views held in memory; beyond it views are dropped and counted.",
        "bot_pattern": "A regular expression on the User-Agent; matching requests are not counted.",
    },
}


def _comments(cls: type) -> dict[str, str]:
    """``#:`` comments above each annotated field in the class's source."""
    lines, _ = inspect.getsourcelines(cls)
    tree = ast.parse("".join(inspect.getsource(cls)))
    found: dict[str, str] = {}
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            text: list[str] = []
            index = node.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#:"):
                text.insert(0, lines[index].strip()[2:].strip())
                index -= 1
            if text:
                found[node.target.id] = " ".join(text)
    return found


def _annotations(cls: type) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    return {
        node.target.id: ast.unparse(node.annotation)
        for node in body.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def _default(field: Any) -> str:
    if field.default is PydanticUndefined:
        if field.default_factory is not None:
            return f"`{field.default_factory()!r}`"
        return "*required*"
    value = field.default
    if isinstance(value, timedelta):
        return f"{value.days} days"
    if isinstance(value, str) and len(value) > 40:
        return f"`{value[:37]}...`"
    return f"`{value!r}`"


def _cell(text: str, github: bool = False) -> str:
    """``text`` for a table cell: pipes escaped; inside code spans only for GitHub.

    Python-Markdown (MkDocs) keeps a pipe in a code span as it is and would show ``\\|``;
    GitHub splits the cell there unless it is escaped.
    """
    text = text.replace("\n", " ")
    out: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        code = span.group(0).replace("|", "\\|") if github else span.group(0)
        out += [text[last : span.start()].replace("|", "\\|"), code]
        last = span.end()
    return "".join([*out, text[last:].replace("|", "\\|")])


def model_table(name: str, github: bool = False) -> tuple[str, list[str]]:
    """The Markdown table of one model, and the problems found (fields without a text)."""
    cls = getattr(config_module, name)
    assert issubclass(cls, BaseModel)
    comments = _comments(cls)
    types = _annotations(cls)
    extra = EXTRA.get(name, {})
    problems = [
        f"{name}.{key}: EXTRA describes a field that does not exist"
        for key in extra
        if key not in cls.model_fields
    ]
    doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    rows = [
        f"### `{name}`",
        "",
        doc,
        "",
        "| field | type | default | description |",
        "|---|---|---|---|",
    ]
    for key, field in cls.model_fields.items():
        text = field.description or comments.get(key) or extra.get(key)
        if not text:
            problems.append(f"{name}.{key} has no description")
            text = ""
        kind = types.get(key, str(field.annotation))
        rows.append(
            f"| `{key}` | {_cell(f'`{kind}`', github)} | {_cell(_default(field), github)} "
            f"| {_cell(text, github)} |"
        )
    return "\n".join(rows), problems


def reference(github: bool = False) -> tuple[str, list[str]]:
    """The whole reference (``github``: for the copy read on GitHub), and every problem found."""
    parts: list[str] = []
    problems: list[str] = []
    for name in MODELS:
        table, found = model_table(name, github)
        parts.append(table)
        problems += found
    return "\n\n".join(parts) + "\n", problems


def render(markdown: str, github: bool = True) -> tuple[str, list[str]]:
    """``markdown`` with the reference (fresh) between the markers, and the problems found."""
    start = markdown.index(MARKER)
    end = markdown.find(END_MARKER, start)
    rest = markdown[end + len(END_MARKER) :] if end >= 0 else markdown[start + len(MARKER) :]
    text, problems = reference(github)
    block = f"{MARKER}\n\n{text}\n{END_MARKER}"
    return markdown[:start] + block + rest, problems


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    rendered, problems = render(markdown, github=False)
    for problem in problems:
        log.warning("configuration reference: %s", problem)
    # The markers are for the copy kept in the repository, not for the site.
    return rendered.replace(MARKER + "\n", "").replace("\n" + END_MARKER, "")


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the reference in docs/configuration.md; ``--check``: exit 1 if it is stale."""
    args = list(sys.argv[1:] if argv is None else argv)
    current = PAGE.read_text(encoding="utf-8")
    rendered, problems = render(current)
    for problem in problems:
        print(f"configuration reference: {problem}", file=sys.stderr)
    if args == ["--check"]:
        if rendered != current:
            print(
                f"{PAGE.name} is out of date: run `make config-reference` "
                "(python docs/hooks/config_reference.py)",
                file=sys.stderr,
            )
            return 1
        return 1 if problems else 0
    if args:
        print("usage: config_reference.py [--check]", file=sys.stderr)
        return 2
    if rendered != current:
        PAGE.write_text(rendered, encoding="utf-8")
        print(f"rewrote {PAGE}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
