"""Spans of personal data in a text, the entity types, and overlap resolution.

A :class:`Span` is ``text[start:end]`` with a type. :func:`resolve_overlaps` turns any set of
spans into sorted, non-overlapping ones: overlapping spans merge into one span covering all of
them (so nothing any detector found is left unmasked), typed after the longest member (ties go
to the more specific type in :data:`TYPE_PRIORITY`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PERSON = "PERSON"
EMAIL = "EMAIL"
PHONE = "PHONE"
SSN = "SSN"
IBAN = "IBAN"
DATE = "DATE"
MONEY = "MONEY"
EMPLOYEE_ID = "EMPLOYEE_ID"
ADDRESS = "ADDRESS"

#: Every entity type, in a fixed order.
ENTITY_TYPES: tuple[str, ...] = (PERSON, EMAIL, PHONE, SSN, IBAN, DATE, MONEY, EMPLOYEE_ID, ADDRESS)

#: Tie-break between equally long overlapping spans: earlier wins.
TYPE_PRIORITY: tuple[str, ...] = (EMAIL, IBAN, SSN, PHONE, EMPLOYEE_ID, ADDRESS, PERSON, MONEY, DATE)


@dataclass(frozen=True, order=True)
class Span:
    """``text[start:end]`` is personal data of entity ``type``."""

    start: int
    end: int
    type: str

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"invalid span bounds [{self.start}, {self.end})")
        if self.type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {self.type!r}")

    def __len__(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Span) -> bool:
        """True when the two spans share at least one character."""
        return self.start < other.end and other.start < self.end


def _rank(span: Span) -> tuple[int, int]:
    return (-(span.end - span.start), TYPE_PRIORITY.index(span.type))


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans; each overlapping cluster becomes its union span."""
    ordered = sorted(set(spans))
    out: list[Span] = []
    cluster: list[Span] = []
    end = -1
    for s in ordered:
        if cluster and s.start >= end:
            out.append(_merge(cluster))
            cluster = []
        cluster.append(s)
        end = max(end, s.end) if len(cluster) > 1 else s.end
    if cluster:
        out.append(_merge(cluster))
    return out


def _merge(cluster: list[Span]) -> Span:
    if len(cluster) == 1:
        return cluster[0]
    best = min(cluster, key=_rank)
    return Span(min(s.start for s in cluster), max(s.end for s in cluster), best.type)
