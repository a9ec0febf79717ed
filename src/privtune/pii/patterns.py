"""Regex detectors with validators: EMAIL, PHONE, SSN, IBAN, EMPLOYEE_ID, DATE, MONEY, ADDRESS.

Each pattern is anchored on word boundaries and guarded against sitting inside a longer number
or code, and each match is validated where the format has rules:

* PHONE: US numbers only, ``(555) 123-4567``, ``555.123.4567``, ``555-123-4567``,
  ``555 123 4567``, with an optional ``+1``/``1``/``001`` prefix and ``x123`` extension; the two
  separators of the bare form must agree. Ten digits and nothing else.
* SSN: ``123-45-6789``, ``123 45 6789``, ``123456789``; area not 000/666/9xx, group not 00,
  serial not 0000; not preceded by ``#`` or ``$`` (order numbers, amounts).
* IBAN: any case, spaced or not, registered length and mod-97 (see :mod:`privtune.pii.iban`).
* EMPLOYEE_ID: a configurable regex, ``\\bE\\d{5}\\b`` by default.

Decoys such as ``order #48213``, ``INC-20931``, ``v2.3.1`` or ``3 days`` match nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from privtune.pii.iban import find_ibans
from privtune.pii.spans import ADDRESS, DATE, EMAIL, EMPLOYEE_ID, IBAN, MONEY, PHONE, SSN, Span

DEFAULT_EMPLOYEE_ID_REGEX = r"\bE\d{5}\b"

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

_PHONE = re.compile(
    r"""
    (?<![\w+])(?<!\d[-.])
    (?:
        (?:(?:\+1|001|1)[ .-]?)?\(\d{3}\)[ ]?\d{3}[-. ]\d{4}
      | (?:(?:\+1|001|1)[ .-])?\d{3}(?P<sep>[-. ])\d{3}(?P=sep)\d{4}
    )
    (?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?
    (?!\w)(?![-.]\d)
    """,
    re.X | re.I,
)

_SSN = re.compile(
    r"(?<![\w#$€£/.-])(?<![#$]\s)(?<!\d\s)"
    r"(?P<area>\d{3})(?P<sep>[- ]?)(?P<group>\d{2})(?P=sep)(?P<serial>\d{4})"
    r"(?!\w)(?![-./]\d)"
)

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON_NUM = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:19|20)\d{2}"
_ORD = r"(?:st|nd|rd|th)?"

_DATE = re.compile(
    rf"""
    (?<![\w./-])(?:
        {_YEAR4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])          # 1985-03-14
      | {_DAY}\.{_MON_NUM}\.{_YEAR4}                                # 14.03.1985
      | {_MON_NUM}/{_DAY}/(?:{_YEAR4}|\d{{2}})                      # 3/14/1985, 3/14/85
      | {_MONTH}\.?[ ]{_DAY}{_ORD}(?:,?[ ]{_YEAR4})?                # March 14, 1985 / May 5
      | {_DAY}{_ORD}[ ](?:of[ ])?{_MONTH}\.?,?(?:[ ]{_YEAR4})?      # 14 Mar 1985 / 14th of March
    )(?![\w/-])(?!\.\d)
    """,
    re.X,
)

_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?"
_MONEY = re.compile(
    rf"""
    (?<![\w$€£.,])(?:
        (?:US)?[$€£][ ]?{_AMOUNT}(?:[ ]?[kKmM](?![a-zA-Z]))?
      | (?:USD|EUR|GBP)[ ]?{_AMOUNT}(?:[ ]?[kKmM](?![a-zA-Z]))?
      | {_AMOUNT}[ ]?(?:USD|EUR|GBP|dollars)
      | \d{{1,4}}(?:\.\d{{1,2}})?k
    )(?![\w])(?!,\d)(?!\.\d)
    """,
    re.X,
)

_STREET_SUFFIXES = (
    "Street St Avenue Ave Road Rd Boulevard Blvd Drive Dr Lane Ln Court Ct Place Pl Way Terrace "
    "Ter Circle Cir Highway Hwy Parkway Pkwy Square Sq Trail Trl Alley Branch Bridge Brook Brooks "
    "Burg Burgs Bypass Camp Canyon Cape Causeway Center Centers Circles Cliff Cliffs Club Common "
    "Corner Corners Course Courts Cove Coves Creek Crescent Crest Crossing Crossroad Curve Dale Dam "
    "Divide Drives Estate Estates Expressway Extension Extensions Fall Falls Ferry Field Fields "
    "Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort Freeway Garden Gardens Gateway Glen "
    "Glens Green Greens Grove Groves Harbor Harbors Haven Heights Hill Hills Hollow Inlet Island "
    "Islands Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Light Lights "
    "Loaf Lock Locks Lodge Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission Motorway "
    "Mount Mountain Mountains Neck Orchard Oval Overpass Park Parks Parkways Pass Passage Path Pike "
    "Pine Pines Plain Plains Plaza Point Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids "
    "Rest Ridge Ridges River Roads Route Row Rue Run Shoal Shoals Shore Shores Skyway Spring "
    "Springs Spur Spurs Squares Station Stravenue Stream Streets Summit Throughway Trace Track "
    "Trafficway Tunnel Turnpike Underpass Union Unions Valley Valleys Via Viaduct View Views "
    "Village Villages Ville Vista Walk Walks Wall Ways Well Wells"
).split()
_NAME_WORD = r"[A-Z][A-Za-z'’-]*\.?"
_ADDRESS = re.compile(
    rf"""
    (?<![\w#$.,-])\d{{1,5}}[ ]
    (?:(?:N|S|E|W|North|South|East|West)\.?[ ])?
    (?:{_NAME_WORD}[ ]){{1,3}}
    (?:{'|'.join(sorted(set(_STREET_SUFFIXES), key=len, reverse=True))})\b\.?
    (?:,?[ ](?:Apt\.?|Apartment|Unit|Suite|Ste\.?|\#)[ ]?\d{{1,5}}[A-Za-z]?\b)?
    (?:,[ ][A-Z][A-Za-z]+(?:[ ][A-Z][A-Za-z]+)*,[ ][A-Z]{{2}}[ ]\d{{5}}(?:-\d{{4}})?\b)?
    """,
    re.X,
)


def ssn_is_valid(area: str, group: str, serial: str) -> bool:
    """SSA structural rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


class PatternDetector:
    """Finds the pattern-shaped entity types in a text; ``employee_id_regex`` is configurable."""

    def __init__(self, employee_id_regex: str = DEFAULT_EMPLOYEE_ID_REGEX) -> None:
        self.employee_id_regex = re.compile(employee_id_regex)

    def find(self, text: str) -> list[Span]:
        """Every span any pattern finds (may overlap; see :func:`resolve_overlaps`)."""
        spans: list[Span] = []
        spans += find_emails(text)
        spans += find_phones(text)
        spans += find_ssns(text)
        spans += [Span(s, e, IBAN) for s, e in find_ibans(text)]
        spans += _spans(self.employee_id_regex.finditer(text), EMPLOYEE_ID)
        spans += find_dates(text)
        spans += _spans(_MONEY.finditer(text), MONEY)
        spans += _spans(_ADDRESS.finditer(text), ADDRESS)
        return spans


def _spans(matches: Iterable[re.Match[str]], kind: str) -> list[Span]:
    return [Span(m.start(), m.end(), kind) for m in matches if m.end() > m.start()]


def find_emails(text: str) -> list[Span]:
    """E-mail addresses in any case; a local part with ``..`` is rejected."""
    return [Span(m.start(), m.end(), EMAIL) for m in _EMAIL.finditer(text) if ".." not in m.group()]


def find_phones(text: str) -> list[Span]:
    """US phone numbers in the formats listed in the module docstring."""
    return _spans(_PHONE.finditer(text), PHONE)


def find_ssns(text: str) -> list[Span]:
    """Structurally valid SSNs in the three written forms."""
    return [
        Span(m.start(), m.end(), SSN)
        for m in _SSN.finditer(text)
        if ssn_is_valid(m.group("area"), m.group("group"), m.group("serial"))
    ]


def find_dates(text: str) -> list[Span]:
    """Calendar dates: ISO, ``14.03.1985``, ``3/14/85``, ``March 14, 1985``, ``14th of March``."""
    return _spans(_DATE.finditer(text), DATE)


_DEFAULT = PatternDetector()


def find_patterns(text: str) -> list[Span]:
    """:meth:`PatternDetector.find` with the default employee-id regex."""
    return _DEFAULT.find(text)
