"""A Django project with the admin, built from the frameworks guide's Django files.

``mysite/consent.py``, ``mysite/asgi.py`` and ``mysite/views.py`` are the guide's
blocks exactly as written; only ``settings.py`` and ``urls.py`` (which the guide
leaves to the reader) come from here. Served by uvicorn with ``--lifespan on``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.live import UvicornProcess

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "frameworks.md"
SECRET = "django-guide-secret-0123456789abcdefghij"
ADMIN_USER = "ada"
ADMIN_PASSWORD = "correct horse battery staple"

SETTINGS = """
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
SECRET_KEY = "django-guide-test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE / "db.sqlite3"}}
STATIC_URL = "static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""

URLS = """
from django.contrib import admin
from django.urls import path

from mysite import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", views.home),
    path("campaign", views.campaign),
]
"""


def guide_files() -> dict[str, str]:
    """``{title: code}`` of the guide's Django blocks."""
    section = GUIDE.read_text().split("## Django (ASGI)\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r'```python title="([^"]+)"\n(.*?)```', section, re.DOTALL))


def build(directory: Path) -> dict[str, str]:
    """Write the project into ``directory``, migrate, add a superuser; return its env."""
    package = directory / "mysite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS)
    (package / "urls.py").write_text(URLS)
    files = guide_files()
    assert set(files) == {"mysite/consent.py", "mysite/asgi.py", "mysite/views.py"}, files
    for title, code in files.items():
        (directory / title).write_text(code)
    env = {
        **os.environ,
        "CONSENTKIT_SECRET_KEYS": SECRET,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(directory)]),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the guide's asgi.py must set it
    setup = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'mysite.settings'; "
        "django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); "
        "from django.contrib.auth.models import User; "
        f"User.objects.create_superuser({ADMIN_USER!r}, 'ada@example.org', {ADMIN_PASSWORD!r})"
    )
    subprocess.run([sys.executable, "-c", setup], cwd=directory, env=env, check=True, timeout=120)
    return env


@contextmanager
def serve_django(directory: Path) -> Iterator[UvicornProcess]:
    """The project under ``uvicorn mysite.asgi:application --lifespan on``."""
    env = build(directory)
    server = UvicornProcess(
        "mysite.asgi:application",
        directory / "uvicorn.log",
        env=env,
        args=["--lifespan", "on", "--log-level", "info"],
        cwd=directory,
    )
    try:
        yield server
    finally:
        server.stop()
