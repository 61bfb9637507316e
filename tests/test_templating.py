"""Jinja2 helpers installed into a site's own ``Jinja2Templates``."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie, templating
from consentkit.consent import Consent
from consentkit.testing import consent_test_client

PAGE = """<p>
{%- if consent.allows("analytics") %}[global-analytics]{% endif -%}
{%- if consent(request).allows("analytics") %}[call-analytics]{% endif -%}
{%- if (request | consent).allows("marketing") %}[filter-marketing]{% endif -%}
</p>"""
PAGE_WITH_PROCESSOR = (
    PAGE + """<i>{{ consent.decided }} {{ consent.granted | sort | join(",") }}</i>"""
)


def make_app(tmp_path: Path, *, processor: bool) -> ConsentMiddleware:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "page.html").write_text(PAGE_WITH_PROCESSOR if processor else PAGE)
    templates = Jinja2Templates(
        directory=str(folder),
        context_processors=[templating.context_processor] if processor else [],
    )
    templating.install(templates)

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html")

    config = ConsentConfig(
        secret_keys=["templating-test-secret-0123456789abcdef"],
        storage=f"sqlite:///{tmp_path}/x.db",
        insert_banner=False,
        insert_snippet=False,
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics", cookies=[Cookie(name="_ga*")]),
            Category(key="marketing", label="Marketing"),
        ],
    )
    return ConsentMiddleware(Starlette(routes=[Route("/", page)]), config=config)


@pytest.mark.parametrize("processor", [False, True])
def test_templates_see_the_visitors_consent(tmp_path: Path, processor: bool) -> None:
    app = make_app(tmp_path, processor=processor)
    with consent_test_client(app) as client:
        body = client.get("/").text
        assert "analytics]" not in body and "marketing]" not in body
    with consent_test_client(app, granted={"analytics"}) as client:
        body = client.get("/").text
        assert "[global-analytics][call-analytics]</p>" in body
    with consent_test_client(app, granted={"analytics", "marketing"}) as client:
        body = client.get("/").text
        assert "[global-analytics][call-analytics][filter-marketing]" in body
        if processor:
            assert "<i>True analytics,marketing,necessary</i>" in body


def test_plain_environment_fails_closed_without_a_request() -> None:
    env = jinja2.Environment(autoescape=True)
    assert templating.install(env) is env
    template = env.from_string('{{ consent.allows("analytics") }} {{ consent(request).decided }}')
    assert template.render() == "False False"
    scope = {"state": {"consent": Consent(decided=True, granted=frozenset({"analytics"}))}}
    assert template.render(request=scope) == "True True"


def test_install_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"Jinja2Templates or a jinja2\.Environment"):
        templating.install(object())


def test_context_processor_value_is_a_consent() -> None:
    consent = Consent(decided=True, granted=frozenset({"necessary"}), consent_id="c1")
    value = templating.context_processor({"state": {"consent": consent}})["consent"]
    assert isinstance(value, Consent)
    assert value.granted == consent.granted and value() is value
    assert value.consent_id == "c1"
