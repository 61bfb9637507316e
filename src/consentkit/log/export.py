"""Writing consent records out for an auditor: JSON Lines or CSV, streamed."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from consentkit.log.record import RECORD_FIELDS, ConsentRecord

__all__ = ["EXPORT_FORMATS", "write_records", "write_rows"]

#: The formats `write_records` knows.
EXPORT_FORMATS = ("jsonl", "csv")

_GRANTED = RECORD_FIELDS.index("granted")
_DENIED = RECORD_FIELDS.index("denied")
_GPC = RECORD_FIELDS.index("gpc")


def write_records(
    records: Iterable[ConsentRecord],
    out: TextIO,
    fmt: str = "jsonl",
    declarations: Callable[[str], str | None] | None = None,
) -> int:
    """Write ``records`` to ``out`` one at a time; return how many were written.

    ``jsonl``: one JSON object per line, the fields of `ConsentRecord`, with
    ``granted`` and ``denied`` as lists. ``csv``: a header row of the same
    field names; ``granted`` and ``denied`` are space-separated category keys,
    ``gpc`` is ``true`` or ``false`` and a missing ``ip`` (or any other
    missing field) is empty.

    With ``declarations`` (declaration hash -> stored body, or None), each
    declaration goes into the stream once, before the first record that
    points at it: in JSON Lines as a line ``{"kind": "declaration",
    "declaration_hash": ..., "body": ...}`` (``body`` is the stored text,
    whose SHA-256 is the hash; ``null`` when it is not stored), in CSV as an
    extra last column ``declaration`` filled on that record's row only.
    """
    return write_rows((record.as_dict() for record in records), out, fmt, declarations)


def write_rows(
    rows: Iterable[Mapping[str, Any]],
    out: TextIO,
    fmt: str = "jsonl",
    declarations: Callable[[str], str | None] | None = None,
) -> int:
    """`write_records` for records already as dicts (`ConsentRecord.as_dict`)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    seen: set[str] = set()
    count = 0
    if fmt == "jsonl":
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        # Lines go out a few hundred at a time: one write call per batch.
        lines: list[str] = []
        for data in rows:
            if declarations is not None and data["declaration_hash"] not in seen:
                seen.add(data["declaration_hash"])
                line = {
                    "kind": "declaration",
                    "declaration_hash": data["declaration_hash"],
                    "body": declarations(data["declaration_hash"]),
                }
                lines.append(encode(line))
            lines.append(encode(data))
            count += 1
            if len(lines) >= 256:
                lines.append("")
                out.write("\n".join(lines))
                lines.clear()
        if lines:
            lines.append("")
            out.write("\n".join(lines))
        return count
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*RECORD_FIELDS, "declaration"] if declarations else RECORD_FIELDS)
    for data in rows:
        row: list[object] = [data[name] for name in RECORD_FIELDS]
        row[_GRANTED] = " ".join(data["granted"])
        row[_DENIED] = " ".join(data["denied"])
        row[_GPC] = "true" if data["gpc"] else "false"
        if declarations is not None:
            body = None
            if data["declaration_hash"] not in seen:
                seen.add(data["declaration_hash"])
                body = declarations(data["declaration_hash"])
            row.append(body)
        writer.writerow(row)
        count += 1
    return count
