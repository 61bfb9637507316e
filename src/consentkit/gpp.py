"""IAB Global Privacy Platform strings with the US National (``usnat``) section.

A GPP string is a header and its sections joined with ``~``. The header
(type 3, GPP version 1) lists the section ids as a Fibonacci-coded range;
every part is a bit sequence written six bits a character in the URL-safe
base64 alphabet, without padding. consentkit writes only the ``usnat``
section (id 7): its core segment, current version 2, and the GPC
subsection. It reads any GPP string, keeping sections other than ``usnat``
as the text they came in (TCF sections included: consentkit never writes
them, reading is free).

`decode` reads a GPP string a request brings (say a ``gpp`` query parameter
passed on by ad tech); a malformed one raises `GppError`. `UsNatSignal`
turns a visitor's `Consent` into the string ``Consent.gpp`` carries under
the ``us_opt_out`` regime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from consentkit.consent import Consent
from consentkit.errors import ConsentKitError

__all__ = [
    "CMP_ID",
    "SECTION_PREFIXES",
    "USNAT",
    "GppError",
    "GppString",
    "Section",
    "UsNat",
    "UsNatSignal",
    "decode",
    "encode",
    "usnat_for",
]

#: The CMP id of a string writer without an IAB registration (the spec's rule for
#: sites and open-source tools that are not a commercially registered CMP).
CMP_ID = 1
#: Section id of the US National section.
USNAT = 7
_HEADER_TYPE = 3
_GPP_VERSION = 1
_GPC_SUBSECTION = 1

#: API prefixes of the section ids of the GPP section table; id 3 is the header itself
#: and id 4 (signal integrity) has no API prefix.
SECTION_PREFIXES: Mapping[int, str] = {
    1: "tcfeuv1", 2: "tcfeuv2", 5: "tcfcav1", 6: "uspv1", 7: "usnat", 8: "usca", 9: "usva",
    10: "usco", 11: "usut", 12: "usct", 13: "usfl", 14: "usmt", 15: "usor", 16: "ustx",
    17: "usde", 18: "usia", 19: "usne", 20: "usnh", 21: "usnj", 22: "ustn", 23: "usmn",
    24: "usmd", 25: "usin", 26: "usky", 27: "usri",
}  # fmt: skip
_SECTION_IDS = frozenset(SECTION_PREFIXES) | {4}
_LAST_SECTION_ID = max(_SECTION_IDS)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUES = {char: index for index, char in enumerate(_ALPHABET)}
# The spec's character table prints the classic "+" and "/"; accept them too.
_VALUES["+"] = 62
_VALUES["/"] = 63
#: Longest Fibonacci code read (values up to about 3.5 million; section ids are under 100).
_MAX_FIBONACCI_BITS = 32
#: Longer strings are refused unread (real ones are well under a kilobyte).
MAX_LENGTH = 8192

# usnat core segment: the sizes of the two per-activity arrays by version.
_ARRAYS = {1: (12, 2), 2: (16, 3)}
_NOTICES = (
    "sharing_notice",
    "sale_opt_out_notice",
    "sharing_opt_out_notice",
    "targeted_advertising_opt_out_notice",
    "sensitive_data_processing_opt_out_notice",
    "sensitive_data_limit_use_notice",
    "sale_opt_out",
    "sharing_opt_out",
    "targeted_advertising_opt_out",
)
_ARRAY_NAMES = ("sensitive_data_processing", "known_child_sensitive_data_consents")
_TAIL = (
    "personal_data_consents",
    "mspa_covered_transaction",
    "mspa_opt_out_option_mode",
    "mspa_service_provider_mode",
)


class GppError(ConsentKitError, ValueError):
    """A malformed or unsupported GPP string; the message says what is wrong with it."""


# Bits.


def _fibonacci(value: int) -> str:
    """``value`` (at least 1) in Fibonacci coding: Zeckendorf bits, lowest first, then a 1."""
    if value < 1:
        raise ValueError(f"Fibonacci coding needs a positive integer, not {value}")
    fibs = [1, 2]
    while fibs[-1] <= value:
        fibs.append(fibs[-1] + fibs[-2])
    bits = ["0"] * (len(fibs) - 1)
    for index in range(len(fibs) - 1, -1, -1):
        if fibs[index] <= value:
            value -= fibs[index]
            bits[index] = "1"
    return "".join(bits).rstrip("0") + "1"


def _int(value: int, width: int) -> str:
    if not 0 <= value < 1 << width:
        raise ValueError(f"{value} does not fit in {width} bits")
    return format(value, f"0{width}b")


def _to_text(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    return "".join(_ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _to_bits(text: str, what: str) -> tuple[int, int]:
    """``text`` as one integer and its number of bits."""
    if not text:
        raise GppError(f"the {what} is empty")
    value = 0
    try:
        for char in text:
            value = value << 6 | _VALUES[char]
    except KeyError as exc:
        raise GppError(
            f"the {what} has {exc.args[0]!r}, which is not a base64url character"
        ) from None
    return value, 6 * len(text)


class _Reader:
    """Reads fields off the top of a bit sequence, raising `GppError` when it runs short."""

    __slots__ = ("_left", "_value", "_what")

    def __init__(self, text: str, what: str) -> None:
        self._value, self._left = _to_bits(text, what)
        self._what = what

    def number(self, width: int, field: str) -> int:
        if width > self._left:
            raise GppError(f"the {self._what} is truncated: it ends inside {field}")
        self._left -= width
        return (self._value >> self._left) & ((1 << width) - 1)

    def fibonacci(self, field: str) -> int:
        a, b, value, previous = 1, 2, 0, 0
        for _ in range(_MAX_FIBONACCI_BITS):
            bit = self.number(1, field)
            if bit and previous:
                return value
            if bit:
                value += a
            a, b, previous = b, a + b, bit
        raise GppError(f"the {self._what} has a Fibonacci code over {_MAX_FIBONACCI_BITS} bits")


# The header.


def _header(ids: Sequence[int]) -> str:
    runs: list[tuple[int, int]] = []
    for section in ids:
        if runs and section == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], section)
        else:
            runs.append((section, section))
    bits = [_int(_HEADER_TYPE, 6), _int(_GPP_VERSION, 6), _int(len(runs), 12)]
    last = 0
    for start, end in runs:
        if start == end:
            bits += ["0", _fibonacci(start - last)]
        else:
            bits += ["1", _fibonacci(start - last), _fibonacci(end - start)]
        last = end
    return _to_text("".join(bits))


def _read_header(text: str) -> list[int]:
    reader = _Reader(text, "header")
    kind = reader.number(6, "the type")
    if kind != _HEADER_TYPE:
        raise GppError(f"the header has type {kind}, not {_HEADER_TYPE}: this is not a GPP string")
    version = reader.number(6, "the version")
    if version != _GPP_VERSION:
        raise GppError(f"GPP version {version} is not supported (only {_GPP_VERSION})")
    ids: list[int] = []
    last = 0
    for _ in range(reader.number(12, "the section count")):
        group = reader.number(1, "a section range")
        start = last + reader.fibonacci("a section id")
        end = start + reader.fibonacci("a section range") if group else start
        if end > _LAST_SECTION_ID:
            raise GppError(f"the header lists section id {end}, which is not a GPP section")
        ids.extend(range(start, end + 1))
        last = end
    for section in ids:
        if section not in _SECTION_IDS:
            raise GppError(f"the header lists section id {section}, which is not a GPP section")
    return ids


# The usnat section.


@dataclass(frozen=True, slots=True)
class UsNat:
    """The values of a ``usnat`` section (US National, GPP section id 7).

    Notices: 0 not applicable, 1 provided, 2 not provided. Opt-outs: 0 not
    applicable, 1 opted out, 2 did not opt out. Consents: 0 not applicable,
    1 no consent, 2 consent. ``mspa_covered_transaction``: 1 yes, 2 no; the
    other MSPA modes: 0 not applicable, 1 yes, 2 no. ``gpc`` is the GPC
    subsection, ``None`` when the section has none.
    """

    version: int = 2
    sharing_notice: int = 0
    sale_opt_out_notice: int = 0
    sharing_opt_out_notice: int = 0
    targeted_advertising_opt_out_notice: int = 0
    sensitive_data_processing_opt_out_notice: int = 0
    sensitive_data_limit_use_notice: int = 0
    sale_opt_out: int = 0
    sharing_opt_out: int = 0
    targeted_advertising_opt_out: int = 0
    #: One value per sensitive data category: 16 in version 2, 12 in version 1.
    sensitive_data_processing: tuple[int, ...] = (0,) * 16
    #: One value per age group: 3 in version 2, 2 in version 1.
    known_child_sensitive_data_consents: tuple[int, ...] = (0,) * 3
    personal_data_consents: int = 0
    mspa_covered_transaction: int = 2
    mspa_opt_out_option_mode: int = 0
    mspa_service_provider_mode: int = 0
    gpc: bool | None = None

    def __post_init__(self) -> None:
        sizes = _ARRAYS.get(self.version)
        if sizes is None:
            raise ValueError(f"usnat version {self.version} is not supported (1 or 2)")
        arrays = (self.sensitive_data_processing, self.known_child_sensitive_data_consents)
        for name, values, size in zip(_ARRAY_NAMES, arrays, sizes, strict=True):
            if len(values) != size:
                raise ValueError(
                    f"{name} has {len(values)} values; version {self.version} has {size}"
                )
        for value in (*self._fields(), *arrays[0], *arrays[1]):
            if not 0 <= value <= 3:
                raise ValueError(f"usnat values are 2-bit numbers, not {value}")

    def _fields(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in (*_NOTICES, *_TAIL))

    def encode(self) -> str:
        """The section as it goes between the ``~`` of a GPP string."""
        bits = [_int(self.version, 6)]
        bits += [_int(getattr(self, name), 2) for name in _NOTICES]
        bits += [_int(v, 2) for v in self.sensitive_data_processing]
        bits += [_int(v, 2) for v in self.known_child_sensitive_data_consents]
        bits += [_int(getattr(self, name), 2) for name in _TAIL]
        text = _to_text("".join(bits))
        if self.gpc is not None:
            # Gpc is 1 for true, as the GPC subsection's table says (the general data-type
            # table's "0=true" contradicts it, and no GPP implementation follows that).
            text += "." + _to_text(_int(_GPC_SUBSECTION, 2) + ("1" if self.gpc else "0"))
        return text

    @classmethod
    def decode(cls, text: str) -> UsNat:
        """The values of an encoded ``usnat`` section; `GppError` when it is malformed."""
        core, *subsections = text.split(".")
        reader = _Reader(core, "usnat core segment")
        version = reader.number(6, "Version")
        sizes = _ARRAYS.get(version)
        if sizes is None:
            raise GppError(f"usnat version {version} is not supported (1 or 2)")
        values: dict[str, Any] = {"version": version}
        for name in _NOTICES:
            values[name] = reader.number(2, _CAMEL[name])
        for name, size in zip(_ARRAY_NAMES, sizes, strict=True):
            label = _CAMEL[name]
            values[name] = tuple(reader.number(2, label) for _ in range(size))
        for name in _TAIL:
            values[name] = reader.number(2, _CAMEL[name])
        for subsection in subsections:
            sub = _Reader(subsection, "usnat subsection")
            kind = sub.number(2, "SubsectionType")
            if kind != _GPC_SUBSECTION:
                raise GppError(f"usnat subsection type {kind} is unknown (1 is GPC)")
            if "gpc" in values:
                raise GppError("the usnat section has two GPC subsections")
            values["gpc"] = sub.number(1, "Gpc") == 1
        return cls(**values)

    def as_js(self) -> list[dict[str, Any]]:
        """The section as ``__gpp('getSection')`` returns it, field names as in the spec."""
        core: dict[str, Any] = {"Version": self.version}
        for name in _NOTICES:
            core[_CAMEL[name]] = getattr(self, name)
        core["SensitiveDataProcessing"] = list(self.sensitive_data_processing)
        core["KnownChildSensitiveDataConsents"] = list(self.known_child_sensitive_data_consents)
        for name in _TAIL:
            core[_CAMEL[name]] = getattr(self, name)
        if self.gpc is None:
            return [core]
        return [core, {"SubsectionType": _GPC_SUBSECTION, "Gpc": self.gpc}]


#: Field names as the spec and the ``__gpp`` API spell them.
_CAMEL = {
    name: "".join(word.capitalize() for word in name.split("_"))
    for name in (*_NOTICES, *_ARRAY_NAMES, *_TAIL)
}


# The whole string.


class Section(NamedTuple):
    """One section of a GPP string: its id and its encoded text."""

    id: int
    text: str


@dataclass(frozen=True, slots=True)
class GppString:
    """A decoded GPP string: its sections in order, ``usnat`` read out when present."""

    sections: tuple[Section, ...]
    usnat: UsNat | None = None

    @property
    def section_ids(self) -> list[int]:
        """The ids of the sections, in the order of the string (the ``gpp_sid`` values)."""
        return [section.id for section in self.sections]

    def section(self, key: int | str) -> str | None:
        """The encoded text of a section, by id or API prefix (``7`` or ``"usnat"``)."""
        for section in self.sections:
            if key in (section.id, SECTION_PREFIXES.get(section.id)):
                return section.text
        return None

    def encode(self) -> str:
        """The GPP string: the header, then every section, joined with ``~``."""
        return "~".join([_header(self.section_ids), *(s.text for s in self.sections)])


def encode(sections: UsNat | Iterable[tuple[int, str]]) -> str:
    """A GPP string holding a `UsNat` section, or the given ``(id, text)`` sections.

    Section ids must be known GPP ids in ascending order, each once; a text
    may not hold ``~``. Raises ``ValueError`` otherwise.
    """
    if isinstance(sections, UsNat):
        return GppString((Section(USNAT, sections.encode()),), sections).encode()
    parts = tuple(Section(int(i), text) for i, text in sections)
    ids = [part.id for part in parts]
    if ids != sorted(set(ids)):
        raise ValueError(f"section ids must be ascending and unique, not {ids}")
    for part in parts:
        if part.id not in _SECTION_IDS:
            raise ValueError(f"{part.id} is not a GPP section id")
        if not part.text or "~" in part.text:
            raise ValueError(f"section {part.id} must be non-empty text without '~'")
    return GppString(parts).encode()


def decode(value: str) -> GppString:
    """Read a GPP string; `GppError` says what is wrong with a malformed one.

    The header must be type 3, GPP version 1, listing known section ids, one
    per ``~``-separated section; a ``usnat`` section is decoded (version 1
    or 2, with an optional GPC subsection), others are kept as text.
    """
    if not isinstance(value, str):
        raise GppError(f"a GPP string is text, not {type(value).__name__}")
    if len(value) > MAX_LENGTH:
        raise GppError(f"the GPP string is {len(value)} characters long, over {MAX_LENGTH}")
    header, *texts = value.split("~")
    ids = _read_header(header)
    if len(ids) != len(texts):
        raise GppError(f"the header lists {len(ids)} sections but the string has {len(texts)}")
    for section, text in zip(ids, texts, strict=True):
        if not text:
            raise GppError(f"section {section} is empty")
    sections = tuple(Section(i, t) for i, t in zip(ids, texts, strict=True))
    usnat = next((UsNat.decode(s.text) for s in sections if s.id == USNAT), None)
    return GppString(sections, usnat)


# From a visitor's consent.


def usnat_for(consent: Consent, sale_or_share: frozenset[str]) -> UsNat:
    """The ``usnat`` values of a visitor under the ``us_opt_out`` regime.

    ``sale_or_share`` are the keys of the categories that sell or share
    personal information. The visitor opted out of sale, sharing and targeted
    advertising when their browser sends GPC or when they decided and refused
    one of those categories (an undecided visitor has not opted out). The
    notices count as provided: the privacy page and the opt-out page exist.
    With no such category the sale, sharing and targeted-advertising fields
    are "not applicable". Sensitive data and known-child fields are "not
    applicable" (consentkit knows nothing of such processing) and the
    transaction is not declared an MSPA covered transaction.
    """
    opted_out = consent.gpc or (consent.decided and not sale_or_share <= consent.granted)
    if sale_or_share:
        notice, choice = 1, 1 if opted_out else 2
    else:
        notice = choice = 0
    return UsNat(
        sharing_notice=1,
        sale_opt_out_notice=notice,
        sharing_opt_out_notice=notice,
        targeted_advertising_opt_out_notice=notice,
        sale_opt_out=choice,
        sharing_opt_out=choice,
        targeted_advertising_opt_out=choice,
        gpc=consent.gpc,
    )


class UsNatSignal:
    """Gives a `Consent` its GPP string; the few possible strings are encoded once.

    The consent codec hands out the same `Consent` object for the same cookie,
    so the consent with its string is kept per object (at most ``cache_size``).
    """

    def __init__(self, sale_or_share: Iterable[str], cache_size: int = 4096) -> None:
        self.sale_or_share = frozenset(sale_or_share)
        self._strings: dict[tuple[bool, bool, bool], str] = {}
        for decided in (False, True):
            for refused in (False, True):
                for gpc in (False, True):
                    granted = frozenset() if refused else self.sale_or_share
                    probe = Consent(decided=decided, granted=granted, gpc=gpc)
                    self._strings[decided, refused, gpc] = encode(
                        usnat_for(probe, self.sale_or_share)
                    )
        # id(consent) -> (consent, consent with its string); holding the consent keeps its id.
        self._attached: dict[int, tuple[Consent, Consent]] = {}
        self._cache_size = max(1, cache_size)

    def string(self, consent: Consent) -> str:
        """The GPP string of ``consent``."""
        refused = not self.sale_or_share <= consent.granted
        return self._strings[consent.decided, refused, consent.gpc]

    def attach(self, consent: Consent) -> Consent:
        """``consent`` with its ``gpp`` set."""
        hit = self._attached.get(id(consent))
        if hit is not None and hit[0] is consent:
            return hit[1]
        gpp = self.string(consent)
        if consent.gpp == gpp:
            return consent
        attached = replace(consent, gpp=gpp)
        if len(self._attached) >= self._cache_size:
            del self._attached[next(iter(self._attached))]
        self._attached[id(consent)] = (consent, attached)
        return attached
