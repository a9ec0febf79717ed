"""Validated pattern detectors, composed from :mod:`privtune.pii.recognizers` (one per file).

Types: EMAIL, URL, PHONE (national formats of the configured regions + international, via
``phonenumbers``), SSN, CREDIT_CARD (Luhn +
issuer prefix), IBAN (mod-97), IP_ADDRESS (v4/v6), EMPLOYEE_ID (configurable regex), ORG_ID
(configurable ``{label: regex}``), DATE, MONEY, ADDRESS (street lines, PO boxes). Each
recognizer's module docstring lists the forms it accepts and the decoys it rejects.

Decoys such as ``order #48213``, ``INC-20931``, ``v2.3.1`` or ``3 days`` match nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from privtune.pii.recognizers import Recognizer, default_recognizers
from privtune.pii.recognizers.date import DateRecognizer
from privtune.pii.recognizers.email import EmailRecognizer
from privtune.pii.recognizers.org_id import DEFAULT_EMPLOYEE_ID_REGEX
from privtune.pii.recognizers.phone import PhoneRecognizer
from privtune.pii.recognizers.ssn import SsnRecognizer, ssn_is_valid
from privtune.pii.spans import Span

__all__ = [
    "DEFAULT_EMPLOYEE_ID_REGEX",
    "PatternDetector",
    "find_dates",
    "find_emails",
    "find_patterns",
    "find_phones",
    "find_ssns",
    "ssn_is_valid",
]


_DIGIT = re.compile(r"\d")
#: Recognizers that only ever match text containing a digit.
_NEEDS_DIGIT = ("phone", "ssn", "credit_card", "iban", "employee_id", "date", "money", "address", "address_intl")


class PatternDetector:
    """Finds the pattern-shaped entity types in a text; the id patterns are configurable."""

    def __init__(
        self,
        employee_id_regex: str = DEFAULT_EMPLOYEE_ID_REGEX,
        org_id_patterns: Mapping[str, str] | Iterable[str] = (),
        phone_regions: Iterable[str] | None = None,
    ) -> None:
        self.recognizers: list[Recognizer] = default_recognizers(employee_id_regex, org_id_patterns, phone_regions)
        digit_only = set(_NEEDS_DIGIT)
        if employee_id_regex != DEFAULT_EMPLOYEE_ID_REGEX:
            digit_only.discard("employee_id")  # a custom id pattern may have no digit
        self._with_digits = [r for r in self.recognizers if r.name in digit_only]
        self._always = [r for r in self.recognizers if r.name not in digit_only]

    def find(self, text: str) -> list[Span]:
        """Every span any pattern finds (may overlap; see :func:`resolve_overlaps`).

        Recognizers whose every form holds a digit (phones, cards, dates, addresses...) are
        skipped on texts without one: one C-speed search instead of nine scans.
        """
        spans: list[Span] = []
        for rec in self._always:
            spans += rec.find(text)
        if _DIGIT.search(text):
            for rec in self._with_digits:
                spans += rec.find(text)
        return spans


def find_emails(text: str) -> list[Span]:
    """E-mail addresses in any case; a local part with ``..`` is rejected."""
    return EmailRecognizer().find(text)


def find_phones(text: str) -> list[Span]:
    """US and international phone numbers (see :mod:`privtune.pii.recognizers.phone`)."""
    return PhoneRecognizer().find(text)


def find_ssns(text: str) -> list[Span]:
    """Structurally valid SSNs in the three written forms."""
    return SsnRecognizer().find(text)


def find_dates(text: str) -> list[Span]:
    """Calendar dates (see :mod:`privtune.pii.recognizers.date`)."""
    return DateRecognizer().find(text)


_DEFAULT = PatternDetector()


def find_patterns(text: str) -> list[Span]:
    """:meth:`PatternDetector.find` with the default employee-id regex."""
    return _DEFAULT.find(text)
