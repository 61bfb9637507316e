"""Writing consent records out for an auditor: JSON Lines or CSV, streamed."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from consentkit.log.record import RECORD_FIELDS, ConsentRecord

__all__ = ["EXPORT_FORMATS", "write_records"]

#: The formats `write_records` knows.
EXPORT_FORMATS = ("jsonl", "csv")


def write_records(records: Iterable[ConsentRecord], out: TextIO, fmt: str = "jsonl") -> int:
    """Write ``records`` to ``out`` one at a time; return how many were written.

    ``jsonl``: one JSON object per line, the fields of `ConsentRecord`, with
    ``granted`` and ``denied`` as lists. ``csv``: a header row of the same
    field names; ``granted`` and ``denied`` are space-separated category keys,
    ``gpc`` is ``true`` or ``false`` and a missing ``ip`` is empty.
    """
    count = 0
    if fmt == "jsonl":
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for record in records:
            out.write(encode(record.as_dict()))
            out.write("\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RECORD_FIELDS)
        for record in records:
            row = [getattr(record, name) for name in RECORD_FIELDS]
            row[RECORD_FIELDS.index("granted")] = " ".join(record.granted)
            row[RECORD_FIELDS.index("denied")] = " ".join(record.denied)
            row[RECORD_FIELDS.index("gpc")] = "true" if record.gpc else "false"
            row[RECORD_FIELDS.index("ip")] = record.ip or ""
            writer.writerow(row)
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    return count
