"""The exceptions consentkit raises: one base class, a few specific kinds."""

from __future__ import annotations

__all__ = ["ConsentKitError", "IntegrityError", "StorageError", "StorageUnavailable"]


class ConsentKitError(Exception):
    """Base class of every error consentkit raises on purpose."""


class StorageError(ConsentKitError):
    """The consent log or analytics storage could not do what was asked."""


class StorageUnavailable(StorageError):
    """The storage cannot be reached or written right now; try again later."""


class IntegrityError(ConsentKitError):
    """The consent log does not verify: a record was altered, removed, added or moved."""
