"""The shared scanners of privtune.pii.scan give the same matches as the regexes they replace.

:class:`~privtune.pii.scan.Bounded` compiles ``(?<![B])BODY`` as ``[^B](?=[F])(BODY)`` so the
regex engine skips ahead in C. The property tests run both on random text built from the
characters and words the recognizers care about (digits, separators, currency signs, month
names, ids), and compare the spans with those of the per-recognizer regexes as they were
written before issue 17's fourth round (copied here literally), so a wrong ``first`` class or a
missed match at a text's start or right after another match fails.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.pii.recognizers import date, ip, money
from privtune.pii.recognizers.org_id import EmployeeIdRecognizer, EmployeeIdShapeRecognizer, _fast_form
from privtune.pii.roster import _ID_BODY, _PHONE_LIKE, _id_tokens
from privtune.pii.scan import Bounded

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
    r"|JAN(?:UARY)?|FEB(?:RUARY)?|MAR(?:CH)?|APR(?:IL)?|MAY|JUNE?|JULY?|AUG(?:UST)?"
    r"|SEP(?:T(?:EMBER)?)?|OCT(?:OBER)?|NOV(?:EMBER)?|DEC(?:EMBER)?)"
)
_FOREIGN_MONTH = (
    r"(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
    r"|Januar|Februar|März|Maerz|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
    r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
    r"|januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december)"
)
_LONG_MONTH = r"(?:January|February|March|April|June|July|August|September|October|November|December)"
_WEEKDAY = r"(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?[ ])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON_NUM = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:19|20)\d{2}"
_ORD = r"(?:st|nd|rd|th)?"
#: The date regex before the fourth round (a look-behind first: tried at every position).
OLD_DATE_RE = re.compile(
    rf"""
    (?<![\w./-])(?:
        {_YEAR4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])
      | {_YEAR4}/(?:0?[1-9]|1[0-2])/{_DAY}
      | {_DAY}\.{_MON_NUM}\.(?:{_YEAR4}|\d{{2}}(?![\d.]))
      | {_DAY}-{_MON_NUM}-{_YEAR4}
      | {_MON_NUM}/{_DAY}/(?:{_YEAR4}|\d{{2}})
      | {_WEEKDAY}?{_MONTH}\.?[ ]{_DAY}{_ORD}(?:,?[ ]{_YEAR4})?
      | {_WEEKDAY}?{_DAY}{_ORD}[ ](?:of[ ])?{_MONTH}\.?,?(?:[ ]{_YEAR4})?
      | {_DAY}\.?[ ](?:de[ ])?{_FOREIGN_MONTH}(?:[ ](?:de[ ])?{_YEAR4})?
      | {_LONG_MONTH}[ ]{_YEAR4}
    )(?:[ T](?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{{1,6}})?)?(?:[ ]?(?:[AaPp][Mm]\b|[AaPp]\.[Mm]\.))?)?
    (?![\w/-])(?!\.\d)(?!:\d)
    """,
    re.X,
)
_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+(?!\d)|\d+)(?:[.,]\d{1,2})?"
_SCALE = r"(?:[ ]?(?:[kKmM]|bn)(?![a-zA-Z])|[ ](?:thousand|million|billion)(?![a-zA-Z]))"
_CODES = r"(?:USD|EUR|GBP|CHF|CAD|AUD)"
OLD_MONEY_RE = re.compile(
    rf"""
    (?<![\w$€£.,])(?:
        (?:US|C|A)?[$€£][ ]?{_AMOUNT}{_SCALE}?
      | {_CODES}[ ]?{_AMOUNT}{_SCALE}?
      | {_AMOUNT}{_SCALE}?[ ]?(?:{_CODES}|dollars|euros|pounds)
      | \d{{1,4}}(?:\.\d{{1,2}})?[kK]
    )(?![\w])(?!,\d)(?!\.\d)
    """,
    re.X,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
OLD_IPV4_RE = re.compile(rf"(?<![\w.])(?<!\d\.){_OCTET}(?:\.{_OCTET}){{3}}(?![\w.]\w|\.\d|\w)")
OLD_ID_TOKEN = re.compile(r"(?<![\w-])(?=[A-Za-z_-]*\d)[A-Za-z0-9][A-Za-z0-9_-]*(?![\w-])")
OLD_PHONE_LIKE = re.compile(r"(?<![\w+])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\w)")

#: Pieces random texts are made of: what starts, ends and breaks the patterns.
_PIECES = st.sampled_from(
    [" ", " ", "  ", "\n", ",", ".", "/", "-", ":", "$", "€", "£", "+", "(", ")", "#", "_", "'", "T",
     "a", "x", "e", "E", "k", "K", "M", "bn", "de ", "of ", "th", "st", "am", "PM",
     "0", "1", "2", "3", "5", "7", "9", "12", "19", "20", "31", "255", "1985", "2024", "00042", "123",
     "March", "Mar", "May", "MAY", "mai", "März", "février", "Monday, ", "Tue ", "June",
     "USD", "EUR", "US", "C", "A", "dollars", "million", "v", "E00042", "e00042", "EMP-0042", "AB", "_x"]
)  # fmt: skip
TEXTS = st.lists(_PIECES, max_size=40).map("".join)


def _old(rx: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in rx.finditer(text)]


def _new(scanner: Bounded, text: str) -> list[tuple[int, int]]:
    return [(s, e) for s, e, _ in scanner.spans(text)]


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_bounded_scanners_match_the_old_regexes(text: str) -> None:
    assert _new(date.DATES, text) == _old(OLD_DATE_RE, text)
    assert _new(money.AMOUNTS, text) == _old(OLD_MONEY_RE, text)
    assert _new(ip.QUADS, text) == _old(OLD_IPV4_RE, text)
    assert _new(_PHONE_LIKE, text) == _old(OLD_PHONE_LIKE, text)
    ids = _id_tokens(frozenset(["E00042", "EMP-0042", "1234", "x9"]))
    assert ids is not None
    # the id scanner looks only where an id's first character follows: the tokens it yields
    # are the old regex's tokens that start with one (the roster then keeps known ids)
    assert _new(ids, text) == [(s, e) for s, e in _old(OLD_ID_TOKEN, text) if text[s] in "E1x"]


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_bounded_is_its_own_pattern(text: str) -> None:
    """Whatever the body: the same spans as the look-behind regex it stands for."""
    for scanner in (
        date.DATES,
        money.AMOUNTS,
        ip.QUADS,
        Bounded(r"\w", r"[a-z]{2}\d?"),
        Bounded(r"\d", r"\d\d|\d", first=r"\d"),
    ):
        assert _new(scanner, text) == _old(scanner.pattern, text)


@pytest.mark.parametrize(
    "text",
    [
        "March 3, 2025",
        "x March 3, 2025",
        "2024-03-14,2024-03-15",
        "$5k$6k",
        "1985-03-14 1985-03-15",
        "",
        "1",
        "E00042",
    ],
)
def test_bounded_at_the_start_and_back_to_back(text: str) -> None:
    """A match at position 0 (no character before it to consume) and matches one after the
    other (the character before the second is the first's last one) are found."""
    assert _new(date.DATES, text) == _old(OLD_DATE_RE, text)
    assert _new(money.AMOUNTS, text) == _old(OLD_MONEY_RE, text)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_employee_id_fast_form(text: str) -> None:
    """``\\bE\\d{5}\\b`` rewritten to start with its literal finds the same ids."""
    for pattern in (r"\bE\d{5}\b", r"\bAB\d{2}", r"\bE?\d{3}\b", r"\b1\d{2}\b"):
        assert [(s.start, s.end) for s in EmployeeIdRecognizer(pattern).find(text)] == _old(
            re.compile(pattern), text
        )


def test_fast_form_only_rewrites_a_plain_leading_literal() -> None:
    assert _fast_form(r"\bE\d{5}\b") == r"E(?<!\wE)\d{5}\b"
    assert _fast_form(r"\bE?\d") == r"\bE?\d"  # a quantified first character stays as written
    assert _fast_form(r"BDG-\d{6}") == r"BDG-\d{6}"


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_employee_id_shapes_scanner(text: str) -> None:
    """The shape recognizer's scanner (first characters of the learnt shapes) finds what the
    plain case-insensitive regex of the same shapes finds."""
    rec = EmployeeIdShapeRecognizer(["E00042", "E12345", "EMP-0042", "EMP-0043", "ab123", "ab124"])
    assert rec.scanner is not None
    plain = re.compile(r"(?<![\w-])(?:" + "|".join(rec.shapes) + r")(?![\w-])", re.I)
    assert [(s.start, s.end) for s in rec.find(text)] == _old(plain, text)


def test_id_scanner_needs_an_alphanumeric_first_character() -> None:
    assert _id_tokens(frozenset(["-1"])) is None
    assert _ID_BODY.startswith("(?=")


_STREET_PIECES = st.sampled_from(
    [" ", " ", ", ", "\n", ".", "-", "#", "12", "5", "134", "75002", "3a", "Rue", "rue", "Via", "Calle", "ul.", "ulica", "al.",
     "Platon", "Paix", "de", "la", "Lindenstraße", "Allee", "Landsberger", "utca", "Bécsi", "veg", "gate", "Fogd", "Drejers",
     "πλατεία", "Καραισκάκη", "Λ.", "Αλκυονίδων", "χλμ", "Paris", "Apt.", "Suite", "bis", "Ābols", "x", "ok",
     "on ", "at ", "to ", "address: ", "address is ", "the corner of ", "side of ", "and ", "Slovenčeva", "Floor", "1999",
     "Ωmega", "Käbbatorp", "Locketorp", "9791", "%", ":"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_STREET_PIECES, max_size=30).map("".join), st.integers(0, 60), st.integers(0, 200))
def test_intl_street_scanner_in_windows(text: str, lo: int, width: int) -> None:
    """The international street scanner, run in a window (``pos``/``endpos``) as the address
    recognizer runs it, finds what its look-behind regex finds there (the look-behind at the
    window's start sees the character before it)."""
    from privtune.pii.recognizers.address import _NUMBERED_BODY, INTL_STREETS, NUMBERED_STREETS

    lo = min(lo, len(text))
    hi = min(len(text), lo + width)
    assert _new_in(INTL_STREETS, text, lo, hi) == [
        m.span() for m in INTL_STREETS.pattern.finditer(text, lo, hi)
    ]
    assert _new(INTL_STREETS, text) == _old(INTL_STREETS.pattern, text)
    # the numbered-street regex as it was written (its own look-behinds first) is the scanner's body
    old_numbered = re.compile(_NUMBERED_BODY, re.X)
    assert _new_in(NUMBERED_STREETS, text, lo, hi) == [m.span() for m in old_numbered.finditer(text, lo, hi)]
    assert _new(NUMBERED_STREETS, text) == _old(old_numbered, text)


def _new_in(scanner: Bounded, text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    return [(s, e) for s, e, _ in scanner.spans(text, lo, hi)]


_OLD_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")


def _old_find_ibans(text: str) -> list[tuple[int, int]]:
    """find_ibans as it was before the fourth round (a look-behind regex searched in a loop)."""
    from privtune.pii.iban import IBAN_LENGTHS, _extent, iban_is_valid

    out: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _OLD_IBAN_START.search(text, pos)
        if m is None:
            return out
        end = _extent(text, m.start(), IBAN_LENGTHS.get(m.group(1).upper(), 0))
        if end is not None and iban_is_valid(text[m.start() : end]):
            out.append((m.start(), end))
            pos = end
        else:
            pos = m.start() + 1


_IBAN_PIECES = st.sampled_from(
    ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "de89370400440532013000", "NL91ABNA0417164300", "DE",
     "89", "AB12", "x", " ", "1", "IBAN: ", ",", "\n", "DE00 0000", "gb82 west 1234 5698 7654 32"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_IBAN_PIECES, max_size=12).map("".join))
def test_iban_candidates_as_before(text: str) -> None:
    from privtune.pii.iban import find_ibans

    assert find_ibans(text) == _old_find_ibans(text)


_OF_PIECES = st.sampled_from(
    [" ", " ", "  ", "\n", "of ", " of ", "Of ", "Ruriko", "Terada", "McDonald-Smith", "O'Neil", "x", "(", "Amtek", "3M",
     "Ltd", "the", "ÉLodie", "a1Bc", "'s", ",", "-"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(_OF_PIECES, max_size=25).map("".join))
def test_of_org_matches_as_finditer(text: str) -> None:
    """``Name Name of Org`` candidates found from the `` of `` cue are finditer's matches."""
    from privtune.pii.recognizers.person_cues import _OF_ORG_RE, of_org_matches

    assert [m.span() for m in of_org_matches(text)] == [m.span() for m in _OF_ORG_RE.finditer(text)]
