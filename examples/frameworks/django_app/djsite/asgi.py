"""``uvicorn djsite.asgi:application``: Django's ASGI app wrapped in ConsentMiddleware."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for frameworks_config

from django.core.asgi import get_asgi_application
from frameworks_config import example_config

from consentkit import ConsentMiddleware

application = ConsentMiddleware(get_asgi_application(), config=example_config())
