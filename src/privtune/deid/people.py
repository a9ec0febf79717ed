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
from privtune.pii.mapping import TableMapping, mapping_for_table, rows_table


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
        self._others: set[str] = set()  # other people the table names (emergency contacts)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], mapping: TableMapping | None = None) -> PersonIndex:
        """Index of the people of an employees table; columns found by their role in ``mapping``
        (inferred from the rows when not given)."""
        rows = list(rows)
        if mapping is None:
            mapping = mapping_for_table(rows_table(rows))
        idx = cls()
        singles: dict[str, set[str]] = {}
        contact_cols = mapping.columns_of("emergency_contact_name")
        for r in rows:
            idx._others.update(str(r[c]).strip() for c in contact_cols if r.get(c) and str(r[c]).strip())
            pid = mapping.value(r, "employee_id")
            if pid is None:
                continue
            first, last = mapping.value(r, "first_name") or "", mapping.value(r, "last_name") or ""
            full = mapping.value(r, "full_name")
            if full and not (first and last):
                parts = full.split()
                first, last = (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else (full, "")
            idx._people[person_key(pid)] = Person(pid, first, last)
            forms = [pid]
            if first and last:
                forms += [f"{first} {last}", f"{last}, {first}", f"{last},{first}"]
            if full:
                forms.append(full)
            email, phone = mapping.value(r, "email"), mapping.value(r, "phone")
            forms += [v for v in (email, phone) if v]
            for f in forms:
                idx._by_form.setdefault(person_key(f), pid)
            for part in (first, last):
                if part:
                    singles.setdefault(person_key(part), set()).add(pid)
            if phone:
                idx._by_form.setdefault("tel:" + _digits(phone), pid)
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
        """Every real person's full name the table knows: employees and their emergency
        contacts (surrogate names are kept distinct from all of them)."""
        own = {person_key(f"{p.first} {p.last}") for p in self._people.values() if p.first and p.last}
        return own | {person_key(n) for n in self._others}
