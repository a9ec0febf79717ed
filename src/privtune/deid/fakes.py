"""Realistic surrogate values, seeded by the keyed hash of a person: the same person always
gets the same fake name, and their fake e-mail is built from that fake name.

Fake names never equal a real full name of the roster (re-drawn on collision), so a
surrogate cannot be mistaken for, or grep-match, a real employee. Phones are in the
``555-01xx`` block reserved for fiction; SSNs use area numbers 900-999, never issued.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from faker import Faker

from privtune.deid.keys import KeyedHash, person_key

MAX_REDRAWS = 50


@lru_cache(maxsize=8)
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", s.lower())


class Surrogates:
    """Deterministic fake values per person key (cached; a few microseconds after first use)."""

    def __init__(self, keyed: KeyedHash, *, forbidden_names: set[str] | frozenset[str] = frozenset(),
                 locale: str = "en_US") -> None:
        self._keyed = keyed
        self._forbidden = {person_key(n) for n in forbidden_names}
        self._locale = locale
        self._names: dict[str, tuple[str, str]] = {}

    def _seeded(self, purpose: str, person: str, locale: str | None = None) -> Faker:
        fake = _faker(locale or self._locale)
        fake.seed_instance(self._keyed.integer(purpose, person))
        return fake

    def name(self, person: str) -> tuple[str, str]:
        """``(first, last)`` fake name of ``person``."""
        key = person_key(person)
        hit = self._names.get(key)
        if hit is not None:
            return hit
        for attempt in range(MAX_REDRAWS):
            fake = self._seeded(f"surrogate-name:{attempt}", key)
            first, last = fake.first_name(), fake.last_name()
            if person_key(f"{first} {last}") not in self._forbidden:
                break
        self._names[key] = (first, last)
        return first, last

    def full_name(self, person: str) -> str:
        first, last = self.name(person)
        return f"{first} {last}"

    def email(self, person: str) -> str:
        first, last = self.name(person)
        return f"{_ascii(first)}.{_ascii(last)}@example.com"

    def phone(self, person: str) -> str:
        n = self._keyed.integer("surrogate-phone", person)
        area = 201 + n % 798
        return f"({area}) 555-01{(n >> 16) % 100:02d}"

    def ssn(self, person: str) -> str:
        n = self._keyed.integer("surrogate-ssn", person)
        return f"{900 + n % 100}-{1 + (n >> 8) % 99:02d}-{1 + (n >> 16) % 9999:04d}"

    def address(self, person: str) -> str:
        return self._seeded("surrogate-address", person).street_address()

    def iban(self, person: str) -> str:
        return self._seeded("surrogate-iban", person).iban()
