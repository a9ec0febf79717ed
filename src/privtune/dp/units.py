"""Privacy units: which training examples belong to which unit.

* ``example``: every example is its own unit.
* ``employee``: the unit of employee *e* is every example whose ``employee_ids`` lists *e*.
  An example about several employees (``"X reports to M"``) is, with ``multi_employee:
  each`` (default), in **each** of their units: the pair (example, unit) is what contributes,
  so such an example may contribute once per unit it belongs to. This is sound for the
  add/remove-one-unit relation: a unit's contribution to a step depends only on that unit's
  own examples and its own sampling coin, and it is clipped to ``max_grad_norm`` as a whole,
  so adding or removing one unit moves the clipped sum by at most ``max_grad_norm``, whatever
  other units hold. What it does *not* give is protection of a shared example against removing
  one of its employees only: its other copies stay. To hide everything that mentions *e*,
  including copies in the units of the ``k`` colleagues *e* shares examples with, group
  privacy over ``k + 1`` units applies; :func:`build_units` reports that ``k`` (the most
  co-units of any employee) so the model card can state it. ``multi_employee: drop`` removes
  shared examples instead: then every example has one unit and both relations coincide.
* Examples about no employee (policy questions) hold no personal data; each is a unit of its
  own, so it is sampled, clipped and noised like any other unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Units:
    """``members[u]`` lists the example indices of unit ``u`` (each list sorted, non-empty)."""

    members: list[list[int]]
    kind: str
    employee_units: int = 0  # units that are employees (the rest: examples about nobody)
    dropped_shared: int = 0  # examples dropped by multi_employee=drop
    max_co_units: int = 0  # most other employees any employee shares an example with

    def __len__(self) -> int:
        return len(self.members)


def build_units(employee_ids: Sequence[Sequence[str]], unit: str,
                multi_employee: str = "each") -> Units:
    """Units over examples ``0..n-1`` given each example's ``employee_ids``."""
    if unit == "example":
        return Units([[i] for i in range(len(employee_ids))], "example")
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
                 max_co_units=max_co)
