"""Realistic surrogate values, seeded by the keyed hash of a person: the same person always
gets the same fake name, and their fake e-mail is built from that fake name.

Fake names never equal a real full name of the roster (re-drawn on collision), so a
surrogate cannot be mistaken for, or grep-match, a real employee. Phones are in the
``555-01xx`` block reserved for fiction; SSNs use area numbers 900-999, never issued.
"""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from functools import lru_cache

from faker import Faker

from privtune.deid.keys import KeyedHash, person_key

MAX_REDRAWS = 50


@lru_cache(maxsize=8)
def _faker(locale: str) -> Faker:
    return Faker(locale)


@lru_cache(maxsize=8)
def _name_pool(locale: str) -> tuple[list[str], list[float], list[str], list[float]]:
    """The locale's first and last names with cumulative weights (Faker's frequencies)."""
    fake = _faker(locale)
    out: list = []
    for attr in ("first_names", "last_names"):
        pool = next((getattr(p, attr) for p in fake.providers if getattr(p, attr, None)), None)
        if isinstance(pool, dict):
            names, weights = list(pool), [float(w) for w in pool.values()]
        else:  # a plain sequence, or a locale without lists: draw a fixed sample once
            names = sorted(set(pool)) if pool else sorted({getattr(fake, attr[:-1])() for _ in range(500)})
            weights = [1.0] * len(names)
        out += [names, list(itertools.accumulate(weights))]
    return out[0], out[1], out[2], out[3]


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
        self._names: dict[tuple[str, str], tuple[str, str]] = {}

    def _seeded(self, purpose: str, person: str, locale: str | None = None) -> Faker:
        fake = _faker(locale or self._locale)
        fake.seed_instance(self._keyed.integer(purpose, person))
        return fake

    def name(self, person: str, locale: str | None = None) -> tuple[str, str]:
        """``(first, last)`` fake name of ``person`` (names of ``locale``, default en_US)."""
        key = person_key(person)
        loc = locale or self._locale
        hit = self._names.get((loc, key))
        if hit is not None:
            return hit
        firsts, fcum, lasts, lcum = _name_pool(loc)
        for attempt in range(MAX_REDRAWS):
            rng = random.Random(self._keyed.integer(f"surrogate-name:{attempt}", key))
            first = rng.choices(firsts, cum_weights=fcum)[0]
            last = rng.choices(lasts, cum_weights=lcum)[0]
            if person_key(f"{first} {last}") not in self._forbidden:
                break
        self._names[(loc, key)] = (first, last)
        return first, last

    def full_name(self, person: str, locale: str | None = None) -> str:
        first, last = self.name(person, locale)
        return f"{first} {last}"

    def email(self, person: str, locale: str | None = None) -> str:
        first, last = self.name(person, locale)
        return f"{_ascii(first)}.{_ascii(last)}@example.com"

    def phone(self, person: str) -> str:
        n = self._keyed.integer("surrogate-phone", person)
        area = 201 + n % 798
        return f"({area}) 555-01{(n >> 16) % 100:02d}"

    def ssn(self, person: str) -> str:
        n = self._keyed.integer("surrogate-ssn", person)
        return f"{900 + n % 100}-{1 + (n >> 8) % 99:02d}-{1 + (n >> 16) % 9999:04d}"

    def address(self, person: str, locale: str | None = None) -> str:
        return self._seeded("surrogate-address", person, locale).street_address()

    def iban(self, person: str, locale: str | None = None) -> str:
        return self._seeded("surrogate-iban", person, locale).iban()
