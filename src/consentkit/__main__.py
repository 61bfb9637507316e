"""``python -m consentkit``: the ``consentkit`` command."""

from __future__ import annotations

from consentkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
