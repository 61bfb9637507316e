"""The frameworks guide's Django files, as copied, in a project with the admin.

Served by ``uvicorn --lifespan on`` (Django refuses lifespan; consentkit answers
it), with ``undeclared_cookies="block"`` as the guide sets it: the admin login
works without JavaScript and its notices (the ``messages`` cookie) survive.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.django_site import ADMIN_PASSWORD, ADMIN_USER, guide_files, serve_django

pytestmark = pytest.mark.slow
pytest.importorskip("django")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:500]
    return match[1]


def test_asgi_snippet_sets_the_settings_module_before_building_the_app() -> None:
    code = guide_files()["mysite/asgi.py"]
    assert code.index('os.environ.setdefault("DJANGO_SETTINGS_MODULE"') < code.index(
        "get_asgi_application()"
    )


def test_django_guide_under_uvicorn_lifespan_on(tmp_path: Path) -> None:
    with serve_django(tmp_path) as server, httpx.Client(base_url=server.url) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert "False" in home.text and "consentkit-banner" in home.text
        assert home.headers["cache-control"] == "private"
        assert "Cookie" in home.headers["vary"]
        refused = client.get("/campaign")
        assert refused.status_code == 403
        assert refused.json()["detail"] == {"category": "marketing"}

        # The admin login, as a browser without JavaScript posts it: no consent given.
        form = client.get("/admin/login/?next=/admin/")
        assert "csrftoken" in form.cookies  # necessary, so allowed before consent
        signed_in = client.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": csrf_of(form.text),
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
                "next": "/admin/",
            },
            headers={"referer": f"{server.url}/admin/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert "sessionid" in signed_in.cookies
        index = client.get("/admin/")
        assert "Site administration" in index.text

        # Saving a user sets Django's messages cookie; blocked, the notice would be lost.
        change = client.get("/admin/auth/user/1/change/")
        saved = client.post(
            "/admin/auth/user/1/change/",
            data={
                "csrfmiddlewaretoken": csrf_of(change.text),
                "username": ADMIN_USER,
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.org",
                "is_active": "on",
                "is_staff": "on",
                "is_superuser": "on",
                "last_login_0": "2026-01-01",
                "last_login_1": "10:00:00",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "10:00:00",
                "_save": "Save",
            },
            headers={"referer": f"{server.url}/admin/auth/user/1/change/"},
        )
        assert saved.status_code == 302, saved.text[:2000]
        assert "messages" in saved.cookies
        listing = client.get(saved.headers["location"])
        assert "was changed successfully" in listing.text

        client.post("/consent", json={"action": "accept_all"}, headers={"origin": server.url})
        assert "True" in client.get("/").text
        assert client.get("/campaign").status_code == 200
    log = (tmp_path / "uvicorn.log").read_text()
    assert "Application startup complete" in log
    assert "Application shutdown complete" in log
    assert "not lifespan" not in log.replace("does not support lifespan", "")
    assert "Traceback" not in log
