"""Minimal Django settings for the example (no database needed)."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
ROOT_URLCONF = "djsite.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": ["consentkit.integrations.django.context_processor"],
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {
                        "home.html": (
                            "<!doctype html><html><body><h1>Annual report</h1>"
                            '{% if "analytics" in consent.granted %}<p id="analytics">counted</p>'
                            '{% else %}<p id="no-analytics">not counted</p>{% endif %}'
                            "</body></html>"
                        )
                    },
                )
            ],
        },
    }
]
