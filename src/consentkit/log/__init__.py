"""The consent log: sealed, chained records of every decision."""

from __future__ import annotations

import time
from collections.abc import Callable

from consentkit.log.base import ConsentLog, DayStats
from consentkit.log.chain import LogKey, derive_log_key
from consentkit.log.record import ConsentRecord, Decision
from consentkit.log.signing import SigningKey
from consentkit.storage import parse_storage_url

__all__ = [
    "ConsentLog",
    "ConsentRecord",
    "DayStats",
    "Decision",
    "LogKey",
    "derive_log_key",
    "open_consent_log",
]


def open_consent_log(
    url: str,
    key: LogKey,
    *,
    clock: Callable[[], float] = time.time,
    signer: SigningKey | None = None,
) -> ConsentLog:
    """The consent log store for a storage URL (not yet opened).

    With ``signer`` every committed batch's chain head is signed with it.
    """
    parsed = parse_storage_url(url)
    if parsed.scheme == "postgresql":
        from consentkit.log.postgres import PostgresConsentLog

        return PostgresConsentLog(parsed.target, key, clock=clock, signer=signer)
    from consentkit.log.sqlite import SQLiteConsentLog

    return SQLiteConsentLog(parsed.target, key, clock=clock, signer=signer)
