"""``python -m consentkit.scan``."""

from consentkit.scan.cli import main

raise SystemExit(main())
