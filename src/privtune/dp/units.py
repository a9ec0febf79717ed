"""Privacy units: which training examples belong to which unit.

* ``example``: every example is its own unit.
* ``employee``: the unit of employee *e* is every example whose ``employee_ids`` lists *e*.
  An example about several employees (``"X reports to M"``) is, with ``multi_employee:
  each``, in **each** of their units: the pair (example, unit) is what contributes,
  so such an example may contribute once per unit it belongs to. This is sound for the
  add/remove-one-unit relation: a unit's contribution to a step depends only on that unit's
  own examples and its own sampling coin, and it is clipped to ``max_grad_norm`` as a whole,
  so adding or removing one unit moves the clipped sum by at most ``max_grad_norm``, whatever
  other units hold. What it does *not* give is protection of a shared example against removing
  one of its employees only: its other copies stay. To hide everything that mentions *e*,
  including copies in the units of the ``k`` colleagues *e* shares examples with, group
  privacy over ``k + 1`` units applies; :func:`build_units` reports that ``k`` (the most
  co-units of any employee) so the model card can state it. ``multi_employee: drop`` (the default)
  removes shared examples instead: then every example has one unit and both relations coincide.
* Examples about no employee (policy questions) hold no personal data; each is a unit of its
  own, so it is sampled, clipped and noised like any other unit.

**Group size** (person-level accounting): a person's data sits in every unit holding an
example that lists them, in ``employee_ids`` or in ``mentions`` (third parties a text still
names in a linkable form, e.g. a colleague's consistent surrogate in a ticket that sits in its
author's unit). The person's group size is the number of distinct units carrying their data;
the person-level epsilon is the accountant's epsilon under group privacy over that many units
(:func:`privtune.dp.accountant.group_epsilon`). :class:`Units` records the largest group size
and a histogram (group size -> number of persons; numbers only). With ``multi_employee: drop``
and no mentions (the DP recipe's default) every person's group size is 1; with ``each`` an
example "X reports to M" puts X's and M's data in both units, so a manager with ``r`` reports
has group size ``r + 1``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Units:
    """``members[u]`` lists the example indices of unit ``u`` (each list sorted, non-empty)."""

    members: list[list[int]]
    kind: str
    employee_units: int = 0  # units that are employees (the rest: examples about nobody)
    dropped_shared: int = 0  # examples dropped by multi_employee=drop
    max_co_units: int = 0  # most other employees any employee shares an example with
    #: group size -> number of persons whose data sits in that many units
    group_sizes: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def max_group_size(self) -> int:
        """The most units any one person's data sits in (1 when nobody is in two; 1 with no
        persons at all: the unit-level guarantee is then the person-level one)."""
        return max(self.group_sizes, default=1)


def group_sizes(members: Sequence[Sequence[int]], persons: Sequence[Sequence[str]]) -> dict[int, int]:
    """Histogram ``{g: number of persons in exactly g units}``: ``persons[i]`` lists whose data
    example ``i`` carries (its ``employee_ids`` and ``mentions``)."""
    units_of: dict[str, int] = Counter()
    for idx in members:
        for p in {p for i in idx for p in persons[i]}:
            units_of[p] += 1
    return dict(sorted(Counter(units_of.values()).items()))


def build_units(employee_ids: Sequence[Sequence[str]], unit: str,
                multi_employee: str = "each",
                mentions: Sequence[Sequence[str]] | None = None) -> Units:
    """Units over examples ``0..n-1`` given each example's ``employee_ids`` (and, for the group
    sizes, the third parties each example still ``mentions``)."""
    if mentions is not None and len(mentions) != len(employee_ids):
        raise ValueError("mentions must list one entry per example")
    persons = [sorted({*(ids or ()), *((mentions[i] or ()) if mentions is not None else ())})
               for i, ids in enumerate(employee_ids)]
    if unit == "example":
        members = [[i] for i in range(len(employee_ids))]
        return Units(members, "example", group_sizes=group_sizes(members, persons))
    if unit != "employee":
        raise ValueError(f"unknown privacy unit {unit!r}")
    by_emp: dict[str, list[int]] = {}
    co: dict[str, set[str]] = {}
    solo: list[list[int]] = []
    dropped = 0
    for i, ids in enumerate(employee_ids):
        ids = sorted(set(ids or ()))
        if not ids:
            solo.append([i])
            continue
        if len(ids) > 1 and multi_employee == "drop":
            dropped += 1
            continue
        for e in ids:
            by_emp.setdefault(e, []).append(i)
            co.setdefault(e, set()).update(x for x in ids if x != e)
    members = [by_emp[e] for e in sorted(by_emp)] + solo
    max_co = max((len(s) for s in co.values()), default=0)
    return Units(members, "employee", employee_units=len(by_emp), dropped_shared=dropped,
                 max_co_units=max_co, group_sizes=group_sizes(members, persons))
