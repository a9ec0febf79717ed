"""IBAN recognition: find candidates in any case and spacing, validate length and mod-97.

A candidate starts with two letters and two digits at a word boundary; the characters that
follow (letters and digits, single spaces allowed between them) are taken up to exactly the
length the IBAN registry fixes for that country, the next character must not continue the
word, and the ISO 13616 mod-97 checksum must hold. Random strings pass by chance with
probability about 1 in 97 *and* need the exact registered length, so decoys do not match.
"""

from __future__ import annotations

import re

from privtune.pii.scan import Bounded

#: IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

#: A candidate's start: two letters and two digits, not after a letter or digit; scanned from the
#: characters that may precede one (:class:`~privtune.pii.scan.Bounded`: the engine skips ahead
#: in C instead of trying every position).
_START = Bounded("A-Za-z0-9", r"(?P<cc>[A-Za-z]{2})\d{2}", first="A-Za-z")


def iban_is_valid(value: str) -> bool:
    """True for a registered-length, mod-97-valid IBAN (spaces and case ignored)."""
    s = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", s):
        return False
    if IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    return _mod97(s) == 1


def _mod97(s: str) -> int:
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97


def find_ibans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each valid IBAN in ``text``."""
    out: list[tuple[int, int]] = []
    pos = 0
    for start, _, m in _START.spans(text):
        # (no candidate starts in the three characters after another's start: a letter or
        # digit precedes them; candidates inside an IBAN found are skipped)
        if start < pos:
            continue
        end = _extent(text, start, IBAN_LENGTHS.get(m.group("cc").upper(), 0))
        if end is not None and iban_is_valid(text[start:end]):
            out.append((start, end))
            pos = end
    return out


def _extent(text: str, start: int, length: int) -> int | None:
    """End offset after ``length`` alphanumerics from ``start`` (single spaces skipped)."""
    if length == 0:
        return None
    count, i, n = 0, start, len(text)
    while i < n and count < length:
        c = text[i]
        if c.isascii() and c.isalnum():
            count += 1
            i += 1
        elif c == " " and count >= 4 and i + 1 < n and text[i + 1].isascii() and text[i + 1].isalnum():
            i += 1
        else:
            return None
    if count < length:
        return None
    if i < n and (text[i].isalnum() or text[i] == "_"):
        return None
    return i
