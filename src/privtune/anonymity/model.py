"""k-anonymity, distinct l-diversity and prosecutor re-identification risk of a table.

Rows are grouped into equivalence classes by their quasi-identifier values. A row whose
quasi-identifiers are all ``*`` is *suppressed*; unlike ARX, which leaves suppressed rows out
of the check, the suppressed rows are counted as the one class they look like (an attacker
who sees that a target matches no other class knows the target is one of them), so
suppressing fewer than k rows cannot pass. Then

* ``k`` is the size of the smallest class (k-anonymity holds for any target <= k),
* ``l`` per sensitive attribute is the smallest number of distinct values inside a class,
* prosecutor risk of a row is 1 / size of its class; we report the maximum (= 1/k) and the
  average over rows (= number of classes / number of rows).

The :class:`Assessment` holds counts and sizes only, never a value, so it can be logged,
reported and put into error messages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SUPPRESSED = "*"


@dataclass
class Assessment:
    rows: int
    suppressed: int
    classes: int
    k: int  # smallest class size (0 when every row is suppressed)
    class_sizes: dict[int, int]  # class size -> number of classes of that size
    l_by_attribute: dict[str, int] = field(default_factory=dict)
    max_risk: float = 0.0
    avg_risk: float = 0.0
    quasi_identifiers: list[str] = field(default_factory=list)

    def classes_below(self, k: int) -> tuple[int, int]:
        """``(classes, rows)`` in classes smaller than ``k``."""
        small = {s: c for s, c in self.class_sizes.items() if s < k}
        return sum(small.values()), sum(s * c for s, c in small.items())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "suppressed": self.suppressed, "classes": self.classes, "k": self.k,
            "class_sizes": {str(s): c for s, c in sorted(self.class_sizes.items())},
            "l_by_attribute": dict(self.l_by_attribute), "max_risk": round(self.max_risk, 6),
            "avg_risk": round(self.avg_risk, 6), "quasi_identifiers": list(self.quasi_identifiers),
        }  # fmt: skip


def _key(row: Sequence[Any]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in row)


def is_suppressed(key: Sequence[Any]) -> bool:
    return bool(key) and all(v == SUPPRESSED for v in key)


def assess(
    qi_rows: Sequence[Sequence[Any]],
    sensitive: Mapping[str, Sequence[Any]] | None = None,
    quasi_identifiers: Sequence[str] = (),
) -> Assessment:
    """Equivalence classes of ``qi_rows`` (one tuple of QI values per row) and their measures."""
    sensitive = sensitive or {}
    members: dict[tuple[str, ...], list[int]] = defaultdict(list)
    suppressed = 0
    for i, row in enumerate(qi_rows):
        key = _key(row)
        suppressed += is_suppressed(key)
        members[key].append(i)
    sizes = Counter(len(m) for m in members.values())
    kept = len(qi_rows)
    k = min(sizes) if sizes else 0
    l_by: dict[str, int] = {}
    for name, values in sensitive.items():
        l_by[name] = min((len({_key([values[i]])[0] for i in m}) for m in members.values()), default=0)
    return Assessment(
        rows=len(qi_rows), suppressed=suppressed, classes=len(members), k=k,
        class_sizes=dict(sizes), l_by_attribute=l_by,
        max_risk=(1.0 / k) if k else 0.0, avg_risk=(len(members) / kept) if kept else 0.0,
        quasi_identifiers=list(quasi_identifiers),
    )  # fmt: skip


def assess_table(rows: Sequence[Mapping[str, Any]], quasi_identifiers: Sequence[str],
                 sensitive: Sequence[str] = ()) -> Assessment:
    """:func:`assess` over dict rows, by column names."""
    qi = [[r.get(c) for c in quasi_identifiers] for r in rows]
    sens = {s: [r.get(s) for r in rows] for s in sensitive}
    return assess(qi, sens, quasi_identifiers)
