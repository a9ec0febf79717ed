"""PHONE: US national formats by a strict regex, international numbers validated by
``phonenumbers`` (Google's libphonenumber metadata).

* US/NANP: ``(555) 123-4567``, ``555.123.4567``, ``555-123-4567``, ``555 123 4567``, optional
  ``+1``/``1``/``001`` prefix and ``x123``/``ext. 123`` extension; the two separators of the bare
  form must agree; exactly ten digits.
* International: a ``+`` or ``00`` prefix followed by digits, spaces, dots, dashes and
  parentheses (``+44 20 7946 0958``, ``+49 (0)30 901820``, ``0033 1 42 68 53 00``); the candidate
  must parse and be a *valid* number for its country in libphonenumber's metadata.

A bare digit run without separators and without ``+`` is never a phone (order numbers, counts).
"""

from __future__ import annotations

import re

import phonenumbers

from privtune.pii.spans import PHONE, Span

US_PHONE_RE = re.compile(
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
_DOUBLE_ZERO = re.compile(r"(?<![\w.,])00[1-9]")
INTL_RE = re.compile(r"(?<![\w+])(?:\+|00)[1-9](?:[ .-]?(?:\(\d{1,4}\)|\d)){6,16}(?![\w])(?![-.]\d)")


def intl_phone_is_valid(value: str) -> bool:
    """True when ``value`` (``+`` or ``00`` prefix) is a valid number for its country."""
    candidate = "+" + value[2:] if value.startswith("00") else value
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


class PhoneRecognizer:
    name = "phone"
    types = (PHONE,)

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        if "+" in text or _DOUBLE_ZERO.search(text):
            for m in INTL_RE.finditer(text):
                if intl_phone_is_valid(m.group()):
                    out.append(Span(m.start(), m.end(), PHONE, source=self.name))
        for m in US_PHONE_RE.finditer(text):
            if not any(o.start < m.end() and m.start() < o.end for o in out):
                out.append(Span(m.start(), m.end(), PHONE, source=self.name))
        return out
