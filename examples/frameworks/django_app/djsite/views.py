"""Views reading the visitor's consent."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from consentkit.integrations.django import consent_required, get_consent


def home(request: HttpRequest) -> HttpResponse:
    response = render(request, "home.html")
    response.set_cookie("session", "s", httponly=True)
    response.set_cookie("_ga", "GA1.1.demo")  # dropped unless analytics is granted
    return response


async def me(request: HttpRequest) -> JsonResponse:
    consent = get_consent(request)  # request.scope["state"]["consent"]
    return JsonResponse({"decided": consent.decided, "granted": sorted(consent.granted)})


@consent_required("personalization")
def recommendations(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"items": ["Annual report 2024"]})
