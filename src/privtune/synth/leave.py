"""Leave records of the synthetic company, and the employee totals derived from them.

Leave covers the twelve months up to :data:`~privtune.synth.vocab.TODAY` (from 2025-07-01), never
starts before the hire date, never overlaps, and starts and ends on working days. After
:func:`make_leave`, ``employee.leave_days_taken`` is exactly the number of working days in that
employee's records and ``employee.medical_leave`` is true exactly when one record is medical
(type ``medical``, or ``sick`` for three working days or more: a doctor's note is required).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from privtune.synth.people import Employee, age_on
from privtune.synth.vocab import LEAVE_COLUMNS, TODAY

WINDOW_START = dt.date(2025, 7, 1)
SICK_NOTE_DAYS = 3


@dataclass(frozen=True)
class LeaveRecord:
    """One leave period; ``days`` is its number of working days (not a column)."""

    leave_id: str
    employee_id: str
    start_date: dt.date
    end_date: dt.date
    leave_type: str
    medical: bool
    days: int

    def row(self) -> dict[str, Any]:
        out = {c: getattr(self, c) for c in LEAVE_COLUMNS}
        out["start_date"] = self.start_date.isoformat()
        out["end_date"] = self.end_date.isoformat()
        return out


def next_workday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d += dt.timedelta(days=1)
    return d


def add_workdays(start: dt.date, n: int) -> dt.date:
    """The last day of a period of ``n`` working days beginning on working day ``start``."""
    d, left = start, n - 1
    while left > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d


def _requests(e: Employee, rng: random.Random) -> list[tuple[str, int]]:
    age = age_on(e.date_of_birth, TODAY)
    req: list[tuple[str, int]] = [("annual", rng.choice((2, 3, 4, 5, 5, 8, 10))) for _ in range(rng.randint(1, 4))]
    req += [("sick", rng.choice((1, 1, 1, 2, 2, 3, 4))) for _ in range(rng.choices((0, 1, 2, 3), (0.35, 0.35, 0.2, 0.1))[0])]
    if rng.random() < 0.07:
        req.append(("medical", rng.randint(5, 30)))
    if 24 <= age <= 46 and rng.random() < 0.05:
        req.append(("parental", rng.randint(20, 60)))
    if rng.random() < 0.04:
        req.append(("bereavement", rng.randint(2, 5)))
    if rng.random() < 0.03:
        req.append(("unpaid", rng.randint(2, 10)))
    rng.shuffle(req)
    return req


def make_leave(employees: list[Employee], rng: random.Random) -> list[LeaveRecord]:
    """Generate leave for every employee and set their ``leave_days_taken``/``medical_leave``."""
    records: list[LeaveRecord] = []
    for e in employees:
        start = next_workday(max(WINDOW_START, e.hire_date + dt.timedelta(days=1)))
        span = (TODAY - start).days
        reqs = _requests(e, rng) if span > 20 else []
        mine: list[tuple[dt.date, dt.date, str, int]] = []
        if reqs:
            slot = span // len(reqs)
            for k, (kind, days) in enumerate(reqs):
                lo = start + dt.timedelta(days=k * slot)
                hi = lo + dt.timedelta(days=slot - 1)
                days = min(days, max(1, (slot * 5) // 7 - 2))
                s = next_workday(lo + dt.timedelta(days=rng.randint(0, max(0, slot - days * 7 // 5 - 3))))
                end = add_workdays(s, days)
                if end > hi or end > TODAY:
                    continue
                mine.append((s, end, kind, days))
        for s, end, kind, days in sorted(mine):
            medical = kind == "medical" or (kind == "sick" and days >= SICK_NOTE_DAYS)
            records.append(LeaveRecord("", e.employee_id, s, end, kind, medical, days))
            e.leave_days_taken += days
            e.medical_leave = e.medical_leave or medical
    return [
        LeaveRecord(f"L{i:06d}", r.employee_id, r.start_date, r.end_date, r.leave_type, r.medical, r.days)
        for i, r in enumerate(records, start=1)
    ]
