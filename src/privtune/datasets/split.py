"""Split examples into train and validation *by employee*, never by row.

A seeded share of the employees is held out. An example goes to validation only if every
employee it mentions is held out, to training only if none is; an example that mentions both
a held-out and a training employee (e.g. "E reports to M" with only E held out) is **dropped**,
because keeping it on either side would let a validation employee be seen in training (or the
reverse). Examples that mention nobody (``policy_qa``) all go to training. So no validation
employee appears in any training example, which is what a memorisation audit needs.

An employee a text still names as a third party (an example's ``mentions``, e.g. a colleague's
consistent surrogate in a ticket) counts like one it lists: a training ticket naming a held-out
colleague is dropped too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


class EmployeeSplit(NamedTuple):
    """Result of :func:`split_by_employee`."""

    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    train_employees: frozenset[str]  # employees not held out
    val_employees: frozenset[str]  # held-out employees
    dropped: int  # examples mixing both sides


def split_by_employee(
    examples: Sequence[Mapping[str, Any]], val_fraction: float, seed: int
) -> EmployeeSplit:
    """Hold out ``round(val_fraction * n_employees)`` employees (at least 1, at most n - 1)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("val_fraction must be in [0, 1)")
    employees = sorted({e for ex in examples for e in ex.get("employee_ids") or ()})
    n = len(employees)
    k = round(val_fraction * n)
    if val_fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    k = min(k, n)
    held = frozenset(random.Random(f"privtune-split-{seed}").sample(employees, k))
    train, val, dropped = [], [], 0
    known = set(employees)
    for ex in examples:
        ids = set(ex.get("employee_ids") or ()) | (set(ex.get("mentions") or ()) & known)
        inside = ids & held
        if not inside:
            train.append(dict(ex))
        elif inside == ids:
            val.append(dict(ex))
        else:
            dropped += 1
    return EmployeeSplit(train, val, frozenset(employees) - held, held, dropped)
