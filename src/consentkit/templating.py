"""Jinja2 helpers for a site's own templates.

Two ways to ask about consent in a template; both work in the same site:

.. code-block:: python

    templates = Jinja2Templates(
        directory="templates",
        context_processors=[consentkit.templating.context_processor],
    )
    consentkit.templating.install(templates)

.. code-block:: jinja

    {% if consent.allows("analytics") %} ... {% endif %}
    {% if consent(request).allows("analytics") %} ... {% endif %}
    {% if request | consent | attr("decided") %} ... {% endif %}

`install` adds a global and a filter called ``consent``. The global can be
called with the request, and its ``allows(key)`` reads the ``request`` in the
template's context (Starlette's ``TemplateResponse`` always puts it there),
so ``consent.allows(...)`` works with `install` alone. `context_processor`
puts the request's `Consent` itself in the context as ``consent`` (all of
``decided``, ``granted``, ``gpc``... then read directly); it stays callable.
"""

from __future__ import annotations

from typing import Any

import jinja2

from consentkit.consent import Consent, get_consent

__all__ = ["TemplateConsent", "consent_of", "context_processor", "install"]

_UNDECIDED = Consent(decided=False, granted=frozenset())


def consent_of(request: Any) -> Consent:
    """The `Consent` of a request or scope; undecided (nothing granted) without the middleware.

    Templates fail closed: a page rendered outside `ConsentMiddleware`
    (an error page, a test) shows nothing optional rather than raising.
    """
    if request is None or isinstance(request, jinja2.Undefined):
        return _UNDECIDED
    try:
        return get_consent(request)
    except (LookupError, AttributeError):
        return _UNDECIDED


class TemplateConsent(Consent):
    """A `Consent` that can also be called like the global: ``consent(request)``."""

    __slots__ = ()

    @classmethod
    def of(cls, consent: Consent) -> TemplateConsent:
        """``consent`` as a `TemplateConsent`."""
        return cls(
            decided=consent.decided,
            granted=consent.granted,
            consent_id=consent.consent_id,
            policy_version=consent.policy_version,
            decided_at=consent.decided_at,
            gpc=consent.gpc,
            gpc_overridden=consent.gpc_overridden,
        )

    def __call__(self, request: Any = None) -> Consent:
        """This consent, or the consent of another request when one is given."""
        return self if request is None else consent_of(request)


class _ConsentGlobal:
    """The ``consent`` template global: ``consent(request)`` or ``consent.allows(key)``."""

    def __call__(self, request: Any) -> Consent:
        return consent_of(request)

    @jinja2.pass_context
    def allows(self, context: jinja2.runtime.Context, key: str) -> bool:
        """Whether the visitor of the ``request`` in the template context allows ``key``."""
        return consent_of(context.get("request")).allows(key)

    def __repr__(self) -> str:
        return "<consentkit consent(request)>"


def context_processor(request: Any) -> dict[str, Any]:
    """A Starlette ``Jinja2Templates`` context processor: ``consent`` for the request."""
    return {"consent": TemplateConsent.of(consent_of(request))}


def install(templates_or_env: Any) -> jinja2.Environment:
    """Add the ``consent`` global and filter to a ``Jinja2Templates`` or a Jinja2 ``Environment``.

    Returns the environment.
    """
    env = getattr(templates_or_env, "env", templates_or_env)
    if not isinstance(env, jinja2.Environment):
        raise TypeError(
            "install() takes a Jinja2Templates or a jinja2.Environment, "
            f"not {type(templates_or_env).__name__}"
        )
    env.globals["consent"] = _ConsentGlobal()
    env.filters["consent"] = consent_of
    return env
