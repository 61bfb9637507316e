"""GPP strings: the spec's examples, an independent decoder, malformed input, ``Consent.gpp``.

`_Spec` below is a second reading of the GPP and usnat specifications, written
here without consentkit.gpp, so the module is checked against something other
than itself (the module reads the text as one integer, this reader as a string
of bits).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consentkit import Category, ConsentConfig, ConsentMiddleware, get_consent
from consentkit.consent import Consent
from consentkit.gpp import (
    CMP_ID,
    GppError,
    GppString,
    Section,
    UsNat,
    UsNatSignal,
    _fibonacci,
    decode,
    encode,
    usnat_for,
)
from consentkit.regions import Region
from tests.conftest import ORIGIN, site

# The GPP string specification's published examples (header examples 1-3 and
# the full strings built on them).
TCF = "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
SPEC_EXAMPLES = [
    ("DBABM", [2], f"DBABM~{TCF}"),
    ("DBACNY", [2, 6], f"DBACNY~{TCF}~1YNN"),
    ("DBABjw", [5, 6], f"DBABjw~{TCF}~1YNN"),
]


NOTICES = [
    "SharingNotice",
    "SaleOptOutNotice",
    "SharingOptOutNotice",
    "TargetedAdvertisingOptOutNotice",
    "SensitiveDataProcessingOptOutNotice",
    "SensitiveDataLimitUseNotice",
    "SaleOptOut",
    "SharingOptOut",
    "TargetedAdvertisingOptOut",
]
TAIL = [
    "PersonalDataConsents",
    "MspaCoveredTransaction",
    "MspaOptOutOptionMode",
    "MspaServiceProviderMode",
]


class _Spec:
    """An independent reader: the text as a string of "0" and "1", fields sliced off it."""

    ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"

    def __init__(self, text: str) -> None:
        self.bits = "".join(f"{self.ALPHABET.index(char):06b}" for char in text)
        self.pos = 0

    def take(self, width: int) -> int:
        assert self.pos + width <= len(self.bits), "ran out of bits"
        self.pos += width
        return int(self.bits[self.pos - width : self.pos], 2)

    def fib(self) -> int:
        # Collect the code word up to its closing "11", then weigh bit k by F(k+2).
        word: list[int] = []
        while not (word[-1:] == [1] and len(word) > 1 and word[-2] == 1):
            word.append(self.take(1))
        weights = [1, 2]
        while len(weights) < len(word):
            weights.append(weights[-1] + weights[-2])
        return sum(w for bit, w in zip(word[:-1], weights, strict=False) if bit)

    @classmethod
    def header(cls, text: str) -> tuple[int, int, list[int]]:
        r = cls(text)
        kind, version, count = r.take(6), r.take(6), r.take(12)
        ids: list[int] = []
        for _ in range(count):
            is_group = r.take(1)
            first = (ids[-1] if ids else 0) + r.fib()
            last = first + r.fib() if is_group else first
            ids += list(range(first, last + 1))
        return kind, version, ids

    @classmethod
    def usnat(cls, text: str) -> dict[str, Any]:
        core, *subs = text.split(".")
        r = cls(core)
        out: dict[str, Any] = {"Version": r.take(6)}
        for name in NOTICES:
            out[name] = r.take(2)
        sensitive, child = (16, 3) if out["Version"] == 2 else (12, 2)
        out["SensitiveDataProcessing"] = [r.take(2) for _ in range(sensitive)]
        out["KnownChildSensitiveDataConsents"] = [r.take(2) for _ in range(child)]
        for name in TAIL:
            out[name] = r.take(2)
        for sub in subs:
            s = cls(sub)
            assert s.take(2) == 1, "only the GPC subsection is expected"
            out["Gpc"] = s.take(1) == 1
        return out


# The spec's examples.


def test_fibonacci_codes_of_the_spec_table() -> None:
    table = {1: "11", 2: "011", 3: "0011", 4: "1011", 5: "00011", 6: "10011", 7: "01011"}
    assert {n: _fibonacci(n) for n in table} == table


@pytest.mark.parametrize(("header", "ids", "full"), SPEC_EXAMPLES)
def test_spec_examples_encode_exactly(header: str, ids: list[int], full: str) -> None:
    texts = full.split("~")[1:]
    assert encode(zip(ids, texts, strict=True)) == full
    assert full.startswith(header + "~")


@pytest.mark.parametrize(("header", "ids", "full"), SPEC_EXAMPLES)
def test_spec_examples_round_trip(header: str, ids: list[int], full: str) -> None:
    gpp = decode(full)
    assert gpp.section_ids == ids
    assert gpp.section("tcfeuv2" if 2 in ids else "tcfcav1") == TCF
    assert gpp.usnat is None
    assert gpp.encode() == full
    assert decode(gpp.encode()) == gpp
    assert _Spec.header(header) == (3, 1, ids)


def test_spec_url_example_with_extra_padding_reads_the_same() -> None:
    # The spec's URL example pads the header with one more "A" (zero bits).
    gpp = decode(f"DBACNYA~{TCF}~1YNN")
    assert gpp.section_ids == [2, 6] and gpp.section(6) == "1YNN"
    assert gpp.encode() == f"DBACNY~{TCF}~1YNN"


def test_a_usnat_version_1_string_from_the_field() -> None:
    # A string CMPs emit today (usnat version 1, header padded to 36 bits). By hand:
    # B=000001 version 1; V Q = 010101 010000: four notices "provided", two
    # sensitive-data notices 0, then q = 101010: sale, sharing and targeted
    # advertising "did not opt out"; g = 100000 at bits 54-55: not an MSPA
    # covered transaction. ".QA": GPC subsection (01), Gpc 0.
    gpp = decode("DBABLA~BVQqAAAAAgA.QA")
    assert gpp.section_ids == [7]
    assert gpp.usnat == UsNat(
        version=1,
        sharing_notice=1,
        sale_opt_out_notice=1,
        sharing_opt_out_notice=1,
        targeted_advertising_opt_out_notice=1,
        sale_opt_out=2,
        sharing_opt_out=2,
        targeted_advertising_opt_out=2,
        sensitive_data_processing=(0,) * 12,
        known_child_sensitive_data_consents=(0, 0),
        mspa_covered_transaction=2,
        gpc=False,
    )
    assert _Spec.usnat("BVQqAAAAAgA.QA") == _as_spec(gpp.usnat)


def _as_spec(usnat: UsNat) -> dict[str, Any]:
    core, *subs = usnat.as_js()
    return {**core, **{k: v for sub in subs for k, v in sub.items() if k != "SubsectionType"}}


# Strings consentkit writes, read by the independent decoder.


@pytest.mark.parametrize(
    ("decided", "granted", "gpc", "choice"),
    [
        (False, set(), False, 2),  # undecided: under us_opt_out nobody opted out yet
        (True, {"ads"}, False, 2),
        (True, set(), False, 1),  # decided and refused the sale/share category
        (False, set(), True, 1),  # GPC is an opt-out on its own
        (True, {"ads"}, True, 1),
    ],
)
def test_written_strings_read_by_the_spec(
    decided: bool, granted: set[str], gpc: bool, choice: int
) -> None:
    consent = Consent(decided=decided, granted=frozenset(granted), gpc=gpc)
    text = UsNatSignal({"ads"}).string(consent)
    header, section = text.split("~")
    assert _Spec.header(header) == (3, 1, [7])
    fields = _Spec.usnat(section)
    assert fields == {
        "Version": 2,
        "SharingNotice": 1,
        "SaleOptOutNotice": 1,
        "SharingOptOutNotice": 1,
        "TargetedAdvertisingOptOutNotice": 1,
        "SensitiveDataProcessingOptOutNotice": 0,
        "SensitiveDataLimitUseNotice": 0,
        "SaleOptOut": choice,
        "SharingOptOut": choice,
        "TargetedAdvertisingOptOut": choice,
        "SensitiveDataProcessing": [0] * 16,
        "KnownChildSensitiveDataConsents": [0, 0, 0],
        "PersonalDataConsents": 0,
        "MspaCoveredTransaction": 2,
        "MspaOptOutOptionMode": 0,
        "MspaServiceProviderMode": 0,
        "Gpc": gpc,
    }
    assert decode(text).usnat == usnat_for(consent, frozenset({"ads"}))


def test_without_a_sale_or_share_category_the_opt_outs_are_not_applicable() -> None:
    fields = _Spec.usnat(encode(usnat_for(Consent(True, frozenset()), frozenset())).split("~")[1])
    assert fields["SharingNotice"] == 1
    assert [fields[k] for k in ("SaleOptOutNotice", "SaleOptOut", "SharingOptOut")] == [0, 0, 0]


def test_every_field_lands_where_the_spec_reads_it() -> None:
    # Distinct values in every position, both versions, with and without GPC.
    for version, sizes in ((1, (12, 2)), (2, (16, 3))):
        for gpc in (None, True, False):
            usnat = UsNat(
                version=version,
                sharing_notice=1,
                sale_opt_out_notice=2,
                sharing_opt_out_notice=3,
                targeted_advertising_opt_out_notice=0,
                sensitive_data_processing_opt_out_notice=1,
                sensitive_data_limit_use_notice=2,
                sale_opt_out=3,
                sharing_opt_out=1,
                targeted_advertising_opt_out=2,
                sensitive_data_processing=tuple(i % 4 for i in range(sizes[0])),
                known_child_sensitive_data_consents=tuple(3 - i for i in range(sizes[1])),
                personal_data_consents=3,
                mspa_covered_transaction=1,
                mspa_opt_out_option_mode=2,
                mspa_service_provider_mode=3,
                gpc=gpc,
            )
            text = encode(usnat)
            assert decode(text).usnat == usnat
            assert _Spec.usnat(text.split("~")[1]) == _as_spec(usnat)


def test_section_ranges_read_by_the_spec() -> None:
    for ids in ([1], [27], [2, 6, 7], [5, 6, 7, 8, 9, 10], [1, 2, 5, 6, 7, 20, 21, 27]):
        text = encode((i, UsNat().encode() if i == 7 else "x") for i in ids)
        assert _Spec.header(text.split("~")[0]) == (3, 1, ids)
        assert decode(text).section_ids == ids


def test_cmp_id_is_the_unregistered_value() -> None:
    assert CMP_ID == 1


def test_js_representation_names_fields_as_the_spec() -> None:
    core, gpc = UsNat(sale_opt_out=1, gpc=True).as_js()
    assert core["SaleOptOut"] == 1 and core["SensitiveDataProcessing"] == [0] * 16
    assert list(core)[:3] == ["Version", "SharingNotice", "SaleOptOutNotice"]
    assert gpc == {"SubsectionType": 1, "Gpc": True}
    assert UsNat().as_js()[1:] == []


# Malformed strings: what each one gets.

MALFORMED = [
    ("", "the header is empty"),
    ("DB*B~x", "'*', which is not a base64url character"),
    (TCF, "the header has type 2, not 3: this is not a GPP string"),  # a bare TCF string
    ("DCABM~x", "GPP version 2 is not supported"),
    ("DBA", "the header is truncated: it ends inside the section count"),
    ("DBAB", "the header is truncated: it ends inside a section range"),
    ("DBABA", "the header is truncated: it ends inside a section id"),
    ("DBABG~xyz", "section id 3, which is not a GPP section"),  # 3 is the header's own id
    ("DBABL", "the header lists 1 sections but the string has 0"),
    (f"DBABM~{TCF}~1YNN", "the header lists 1 sections but the string has 2"),
    ("DBABL~", "section 7 is empty"),
    ("DBABL~CVQ", "the usnat core segment is truncated: it ends inside SaleOptOut"),
    ("DBABL~CVQqAA", "the usnat core segment is truncated: it ends inside SensitiveDataProcessing"),
    ("DBABL~C", "the usnat core segment is truncated: it ends inside SharingNotice"),
    ("DBABL~DVQqAAAAAACA", "usnat version 3 is not supported"),
    ("DBABL~CVQqAAAAAACA.g", "usnat subsection type 2 is unknown"),
    ("DBABL~CVQqAAAAAACA.Q.Y", "the usnat section has two GPC subsections"),
    ("DBABL~CVQqAAAAAACA.", "the usnat subsection is empty"),
    ("DBABL~CVQqAAAAAACA.w=", "'=', which is not a base64url character"),  # padding
    ("D" * 9000, "over 8192"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_strings(text: str, message: str) -> None:
    with pytest.raises(GppError) as caught:
        decode(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_unknown_section_id_beyond_the_table() -> None:
    # Built by hand: one single id, offset 28 = F(9)+F(3)... in Fibonacci coding.
    text = GppString((Section(28, "x"),)).encode()
    assert _Spec.header(text.split("~")[0])[2] == [28]
    with pytest.raises(GppError, match="section id 28, which is not a GPP section"):
        decode(text)


def test_a_huge_section_range_is_refused_before_it_is_expanded() -> None:
    # One group from id 1 spanning F(30)-ish ids: refused by its end, never listed.
    bits = "000011000001000000000001111" + "0" * 28 + "11"
    bits += "0" * (-len(bits) % 6)
    text = "".join(_Spec.ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    with pytest.raises(GppError, match=r"section id \d{6,}, which is not a GPP section"):
        decode(text + "~x")


def test_an_endless_fibonacci_code_is_refused() -> None:
    # A section id whose code never closes with "11" within 32 bits.
    bits = "0000110000010000000000010" + "10" * 20
    bits += "0" * (-len(bits) % 6)
    text = "".join(_Spec.ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    with pytest.raises(GppError, match="the header has a Fibonacci code over 32 bits"):
        decode(text + "~x")


def test_the_classic_base64_characters_are_read_too() -> None:
    # The spec's character table lists "+" and "/" for 62 and 63; its examples use "-".
    text = encode(UsNat(sharing_notice=3, sale_opt_out_notice=3, sharing_opt_out_notice=2))
    assert "-" in text
    assert decode(text.replace("-", "+")).usnat == decode(text).usnat


def test_not_text_is_refused() -> None:
    with pytest.raises(GppError, match="a GPP string is text, not bytes"):
        decode(b"DBABM~x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ([(6, "1YNN"), (2, TCF)], "ascending and unique"),
        ([(2, TCF), (2, TCF)], "ascending and unique"),
        ([(3, "x")], "3 is not a GPP section id"),
        ([(6, "1~NN")], "without '~'"),
        ([(6, "")], "non-empty"),
    ],
)
def test_encode_refuses_what_it_cannot_write(sections: list[tuple[int, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode(sections)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"version": 3}, "usnat version 3 is not supported"),
        ({"sale_opt_out": 4}, "2-bit numbers, not 4"),
        ({"sensitive_data_processing": (0,) * 12}, "has 12 values; version 2 has 16"),
        ({"version": 1}, "has 16 values; version 1 has 12"),
    ],
)
def test_usnat_values_are_checked(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UsNat(**values)


# Consent.gpp on requests.


async def show(request: Request) -> Response:
    consent = get_consent(request)
    return JSONResponse({"gpp": consent.gpp, "granted": sorted(consent.granted)})


def _categories() -> list[Category]:
    return [
        Category(key="necessary", label="Necessary", required=True),
        Category(key="analytics", label="Analytics"),
        Category(key="ads", label="Advertising", sale_or_share=True),
    ]


@pytest.fixture
def us_client(make_config: Callable[..., ConsentConfig]) -> Iterator[TestClient]:
    config = make_config(
        categories=_categories(), regions=[Region(match=("*",), regime="us_opt_out")]
    )
    app = site()
    assert isinstance(app, Starlette)
    app.router.routes.append(Route("/show", show))
    with TestClient(ConsentMiddleware(app, config=config)) as client:
        yield client


def test_consent_carries_the_gpp_string_under_us_opt_out(us_client: TestClient) -> None:
    gpp = us_client.get("/show").json()["gpp"]
    assert decode(gpp).usnat == UsNat(
        sharing_notice=1,
        sale_opt_out_notice=1,
        sharing_opt_out_notice=1,
        targeted_advertising_opt_out_notice=1,
        sale_opt_out=2,
        sharing_opt_out=2,
        targeted_advertising_opt_out=2,
        gpc=False,
    )
    state = us_client.get("/consent").json()
    assert state["gpp"] == gpp


def test_refusing_the_sale_or_share_category_opts_out(us_client: TestClient) -> None:
    answer = us_client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN).json()
    usnat = decode(answer["gpp"]).usnat
    assert usnat is not None
    assert (usnat.sale_opt_out, usnat.sharing_opt_out, usnat.targeted_advertising_opt_out) == (
        1,
        1,
        1,
    )
    assert us_client.get("/show").json()["gpp"] == answer["gpp"]
    # Granting it back: did not opt out.
    answer = us_client.post(
        "/consent", json={"action": "custom", "categories": {"ads": True}}, headers=ORIGIN
    ).json()
    assert decode(answer["gpp"]).usnat.sale_opt_out == 2  # type: ignore[union-attr]
    # Withdrawing under us_opt_out is kept as a choice of the required categories only
    # (nothing would turn the rest back on otherwise): an opt-out.
    answer = us_client.delete("/consent", headers=ORIGIN).json()
    assert answer["decided"] is True and answer["granted"] == ["necessary"]
    assert decode(answer["gpp"]).usnat.sale_opt_out == 1  # type: ignore[union-attr]


def test_gpc_is_an_opt_out_and_fills_the_gpc_subsection(us_client: TestClient) -> None:
    gpp = us_client.get("/show", headers={"Sec-GPC": "1"}).json()["gpp"]
    usnat = decode(gpp).usnat
    assert usnat is not None and usnat.gpc is True and usnat.sale_opt_out == 1


def test_the_page_gets_the_stub_and_the_api_script(us_client: TestClient) -> None:
    html = us_client.get("/").text
    gpp = us_client.get("/show").json()["gpp"]
    stub = html.index("<script>(function(w){if(typeof w.__gpp")
    api = html.index('id="consentkit-gpp"')
    assert stub < api < html.index('id="consentkit-js"')
    assert f'data-gpp="{gpp}"' in html
    url = html[html.index("/consent/consentkit-gpp.") : html.index('" defer id="consentkit-gpp"')]
    script = us_client.get(url)
    assert script.status_code == 200 and "__gppLocator" in script.text
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_nothing_gpp_outside_us_opt_out(make_config: Callable[..., ConsentConfig]) -> None:
    for regions in ([], [Region(match=("*",), regime="opt_in")]):
        config = make_config(categories=_categories(), regions=regions)
        app = site()
        assert isinstance(app, Starlette)
        app.router.routes.append(Route("/show", show))
        with TestClient(ConsentMiddleware(app, config=config)) as client:
            assert client.get("/show").json()["gpp"] is None
            assert "__gpp" not in client.get("/").text
            assert "gpp" not in client.get("/consent").json()
            answer = client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN)
            assert "gpp" not in answer.json()


def test_strings_are_encoded_once() -> None:
    signal = UsNatSignal({"ads"})
    consent = Consent(decided=True, granted=frozenset({"ads"}))
    assert signal.string(consent) is signal.string(Consent(True, frozenset({"ads", "x"})))
    attached = signal.attach(consent)
    assert attached.gpp == signal.string(consent) and signal.attach(attached) is attached


def test_attach_reuses_the_consent_it_made_within_its_bound() -> None:
    signal = UsNatSignal({"ads"}, cache_size=2)
    consents = [Consent(True, frozenset({"ads"}), consent_id=str(i)) for i in range(3)]
    first = signal.attach(consents[0])
    assert signal.attach(consents[0]) is first
    for consent in consents[1:]:
        signal.attach(consent)
    # Evicted: made again, equal but a new object.
    again = signal.attach(consents[0])
    assert again is not first and again == first and again.gpp == first.gpp


def test_stub_and_api_script_carry_the_nonce(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(
        categories=_categories(),
        regions=[Region(match=("*",), regime="us_opt_out")],
        csp_nonce=lambda scope: "n0nce",
    )
    with TestClient(ConsentMiddleware(site(), config=config)) as client:
        html = client.get("/").text
    assert '<script nonce="n0nce">(function(w){' in html
    assert 'defer id="consentkit-gpp" nonce="n0nce" data-gpp="DBABL~' in html
