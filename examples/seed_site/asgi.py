"""The demo as a module-level ASGI app, for ``uvicorn`` and ``consentkit audit``.

``uvicorn examples.seed_site.asgi:app`` or ``consentkit audit examples.seed_site.asgi:app``.
Storage comes from ``DEMO_STORAGE`` (default ``sqlite:///demo.db``); keys from
``CONSENTKIT_SECRET_KEYS``, else a random demo key.
"""

from __future__ import annotations

import os

from examples.seed_site.app import create_app

_keys = [k.strip() for k in os.environ.get("CONSENTKIT_SECRET_KEYS", "").split(",") if k.strip()]
demo = create_app(
    storage=os.environ.get("DEMO_STORAGE", "sqlite:///demo.db"), secret_keys=_keys or None
)
app = demo.app
