"""CREDIT_CARD: 12-19 digits, grouped by spaces or dashes or not, with a known issuer prefix
and a valid Luhn checksum.

Issuer prefixes (IIN): Visa ``4``; Mastercard ``51``-``55`` and the 2-series ``2221``-``2720``;
American Express ``34``/``37`` (15 digits); Discover ``6011``, ``644``-``649``, ``65``; JCB
``35`` (16-19 digits: ``3513411763917567``) and ``1800``/``2131`` (15 digits); Diners ``300``-``305``, ``36``, ``38``; UnionPay
``62``; Maestro ``50``, ``56``-``58``, ``6304``, ``639``, ``67`` (12-19 digits: ``675955438006``).
A random 16-digit number passes Luhn one time in ten *and* needs an issuer prefix, so order
numbers and ticket ids stay clean.
"""

from __future__ import annotations

import re

from privtune.pii.spans import CREDIT_CARD, Span

CARD_RE = re.compile(
    # the first digit before the look-behind: the regex engine skips ahead to digits in C
    r"\d(?<![\w#$€£.,/-]\d)(?:"
    r"\d{11,18}"
    r"|\d{3}(?P<s>[ -])\d{4}(?P=s)\d{4}(?:(?P=s)\d{1,4}(?:(?P=s)\d{1,3})?)?"
    r"|\d{3}(?P<t>[ -])\d{6}(?P=t)\d{4,5}"
    r")(?![\w/])(?![.,-]\d)"
)


_NEXT_GROUP = re.compile(r"[ -]\d")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def issuer_ok(digits: str) -> bool:
    """True when the prefix and length belong to a card scheme."""
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65:
        return 16 <= n <= 19
    if p4 in (1800, 2131):  # JCB's 15-digit ranges
        return n == 15
    if p2 == 35:  # JCB (3528-3589 registered; generators and test decks use all of 35xx)
        return 16 <= n <= 19
    if 300 <= p3 <= 305 or p2 in (36, 38):
        return 14 <= n <= 19
    if p2 == 62:
        return 16 <= n <= 19
    if p2 in (50, 56, 57, 58, 67) or p4 == 6304 or p3 == 639:  # Maestro
        return 12 <= n <= 19
    return False


def card_is_valid(value: str) -> bool:
    """A card number (spaces and dashes ignored) with an issuer prefix and a valid Luhn digit."""
    digits = re.sub(r"[ -]", "", value)
    return digits.isdigit() and 12 <= len(digits) <= 19 and issuer_ok(digits) and luhn_ok(digits)


class CreditCardRecognizer:
    name = "credit_card"
    types = (CREDIT_CARD,)

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        pos = 0
        while True:
            m = CARD_RE.search(text, pos)
            if m is None:
                return out
            if card_is_valid(m.group()):
                out.append(Span(m.start(), m.end(), CREDIT_CARD, source=self.name))
                pos = m.end()
            else:  # "123-45-6789 4111 ..." : retry from the next digit group
                nxt = _NEXT_GROUP.search(text, m.start() + 1)
                pos = nxt.start() + 1 if nxt else m.end()
