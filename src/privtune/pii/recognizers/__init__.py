"""One recognizer per file, Presidio-style: each finds one entity type and validates it.

A recognizer is anything with a ``name``, the ``types`` it can emit and ``find(text) ->
list[Span]`` (the :class:`Recognizer` protocol). :func:`default_recognizers` builds the pattern
set used by :class:`~privtune.pii.detector.Detector`; roster, people and NER recognizers are
added there because they need data (a roster, a gazetteer, a local model).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from privtune.pii.spans import Span


@runtime_checkable
class Recognizer(Protocol):
    """Finds spans of some entity types in a text."""

    @property
    def name(self) -> str: ...

    @property
    def types(self) -> tuple[str, ...]: ...

    def find(self, text: str) -> list[Span]:
        """Every span found (may overlap; the detector resolves overlaps)."""
        ...


def default_recognizers(
    employee_id_regex: str | None = None,
    org_id_patterns: Mapping[str, str] | Iterable[str] = (),
    phone_regions: Iterable[str] | None = None,
) -> list[Recognizer]:
    """The validated pattern recognizers, in a fixed order (phones: ``phone_regions`` or
    :data:`~privtune.pii.recognizers.phone.DEFAULT_REGIONS`)."""
    from privtune.pii.recognizers.address import (
        AddressRecognizer,
        InternationalAddressRecognizer,
        NamedStreetRecognizer,
    )
    from privtune.pii.recognizers.card import CreditCardRecognizer
    from privtune.pii.recognizers.date import DateRecognizer
    from privtune.pii.recognizers.email import EmailRecognizer
    from privtune.pii.recognizers.iban import IbanRecognizer
    from privtune.pii.recognizers.ip import IpRecognizer
    from privtune.pii.recognizers.money import MoneyRecognizer
    from privtune.pii.recognizers.org_id import (
        DEFAULT_EMPLOYEE_ID_REGEX,
        EmployeeIdRecognizer,
        OrgIdRecognizer,
    )
    from privtune.pii.recognizers.phone import DEFAULT_REGIONS, PhoneRecognizer
    from privtune.pii.recognizers.ssn import SsnRecognizer
    from privtune.pii.recognizers.url import UrlRecognizer

    recs: list[Recognizer] = [
        EmailRecognizer(),
        UrlRecognizer(),
        PhoneRecognizer(phone_regions or DEFAULT_REGIONS),
        SsnRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        EmployeeIdRecognizer(employee_id_regex or DEFAULT_EMPLOYEE_ID_REGEX),
        DateRecognizer(),
        MoneyRecognizer(),
        AddressRecognizer(),
        InternationalAddressRecognizer(),
        NamedStreetRecognizer(),
    ]
    if org_id_patterns:
        recs.append(OrgIdRecognizer(org_id_patterns))
    return recs


__all__ = ["Recognizer", "default_recognizers"]
