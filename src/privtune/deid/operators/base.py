"""What every operator gets: the keyed hash, surrogates, the person index, and a target.

An operator is a small object with ``apply(value, target) -> value`` (Presidio-anonymizer
style: one operator per module, built from its validated spec by :func:`build_operator`).
For a table cell ``value`` is the cell and ``target.entity`` is ``None``; for a span of free
text ``value`` is the span's text and ``target.entity`` its entity type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from privtune.deid.fakes import Surrogates
from privtune.deid.keys import KeyedHash
from privtune.deid.people import PersonIndex


@dataclass
class Env:
    """Shared state of one de-identification run (the key never leaves this object)."""

    keyed: KeyedHash
    surrogates: Surrogates
    people: PersonIndex = field(default_factory=PersonIndex)


@dataclass(frozen=True)
class Target:
    """Where a value sits: its column or entity type and whose it is (a person key)."""

    column: str | None = None
    entity: str | None = None
    person: str | None = None  # the person key keyed operators use
    surface: str | None = None  # for text: the span as written (first/last-name-only mentions)


class Operator(Protocol):
    def apply(self, value: Any, target: Target) -> Any: ...
