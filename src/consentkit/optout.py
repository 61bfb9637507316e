"""The "Do Not Sell or Share My Personal Information" page (``{prefix}/opt-out``).

Under the ``us_opt_out`` regime every page carries a link to it. It explains
the opt-out, says whether the visitor has opted out, and offers a one-click
opt-out: a plain HTML form that posts ``action=opt_out`` to the consent API,
so it works without JavaScript. When the browser sends Global Privacy Control
the page says "Opt-Out Preference Signal Honored": the signal has already
turned the ``sale_or_share`` categories off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Scope

from consentkit.consent import Consent
from consentkit.regions import Jurisdiction

if TYPE_CHECKING:
    from consentkit.middleware import ConsentMiddleware

__all__ = ["OPT_OUT_PATH", "OptOutPage"]

#: Where the page is, under the consent prefix.
OPT_OUT_PATH = "/opt-out"
_HEADERS = {"cache-control": "no-store", "vary": "Cookie, Accept-Language, Sec-GPC"}


class OptOutPage:
    """Renders the opt-out page for a request."""

    def __init__(self, middleware: ConsentMiddleware) -> None:
        self.mw = middleware
        #: The page's path: ``{prefix}/opt-out``.
        self.path = middleware.config.prefix + OPT_OUT_PATH
        self._sale_or_share = middleware.regimes.sale_or_share

    def opted_out(self, consent: Consent) -> bool:
        """Whether the visitor has opted out: by a choice or GPC, no ``sale_or_share`` runs."""
        return (consent.decided or consent.gpc) and not consent.granted & self._sale_or_share

    def page(self, scope: Scope, consent: Consent, jurisdiction: Jurisdiction) -> Response:
        """The page as HTML, in the visitor's language."""
        lang = self.mw.language(scope)
        body = self.mw.renderer.document(
            "consentkit/optout.html",
            consent,
            lang,
            self.mw.nonce(scope),
            next_path=self.path,
            opted_out=self.opted_out(consent),
            gpc_honored=consent.gpc and jurisdiction.regime == "us_opt_out",
            sale_or_share=self._sale_or_share,
        )
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={**_HEADERS, "content-language": lang},
        )
