"""IBAN: any case and spacing, registered length and mod-97 (see :mod:`privtune.pii.iban`)."""

from __future__ import annotations

from privtune.pii.iban import find_ibans
from privtune.pii.spans import IBAN, Span


class IbanRecognizer:
    name = "iban"
    types = (IBAN,)

    def find(self, text: str) -> list[Span]:
        return [Span(s, e, IBAN, source=self.name) for s, e in find_ibans(text)]
