"""Who is who: person keys for keyed operators, from the HRIS employees table.

A :class:`PersonIndex` maps every way a known employee is written (full name in any case,
``LAST, FIRST``, e-mail, phone digits, employee id, and a first or last name alone when no
other employee shares it) to their employee id, so a mention in a
text gets the same person key (and so the same token, surrogate and date offset) as their
table row. Spans that carry a ``subject`` (the detector's roster match) use it directly;
anyone else is keyed by the normalised surface form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from privtune.deid.keys import person_key


def _digits(value: str) -> str:
    d = re.sub(r"\D", "", value)
    return d[1:] if len(d) == 11 and d.startswith("1") else d


@dataclass(frozen=True)
class Person:
    pid: str
    first: str
    last: str


class PersonIndex:
    """Lookup of known people by any written form of their name or identifiers."""

    def __init__(self) -> None:
        self._by_form: dict[str, str] = {}
        self._people: dict[str, Person] = {}

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], id_column: str = "employee_id") -> PersonIndex:
        idx = cls()
        singles: dict[str, set[str]] = {}
        for r in rows:
            pid = r.get(id_column)
            if pid in (None, ""):
                continue
            pid = str(pid).strip()
            first, last = str(r.get("first_name") or "").strip(), str(r.get("last_name") or "").strip()
            idx._people[person_key(pid)] = Person(pid, first, last)
            forms = [pid]
            if first and last:
                forms += [f"{first} {last}", f"{last}, {first}", f"{last},{first}"]
            for col in ("email", "phone"):
                if r.get(col):
                    forms.append(str(r[col]))
            for f in forms:
                idx._by_form.setdefault(person_key(f), pid)
            for part in (first, last):
                if part:
                    singles.setdefault(person_key(part), set()).add(pid)
            if r.get("phone"):
                idx._by_form.setdefault("tel:" + _digits(str(r["phone"])), pid)
        # A first or last name alone identifies an employee only when no one else has it.
        for form, pids in singles.items():
            if len(pids) == 1:
                idx._by_form.setdefault(form, next(iter(pids)))
        return idx

    def __len__(self) -> int:
        return len(self._people)

    def lookup(self, surface: str) -> str | None:
        """The employee id written as ``surface`` (any case, spacing), if known."""
        key = person_key(surface)
        if key.endswith("'s") or key.endswith("’s"):
            key = key[:-2]
        hit = self._by_form.get(key)
        if hit is None:
            digits = _digits(surface)
            if len(digits) == 10:
                hit = self._by_form.get("tel:" + digits)
        return hit

    def person(self, pid: str) -> Person | None:
        return self._people.get(person_key(pid))

    def full_names(self) -> set[str]:
        return {person_key(f"{p.first} {p.last}") for p in self._people.values() if p.first and p.last}
