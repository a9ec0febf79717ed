"""``date_shift``: move a person's dates by a keyed offset, the same for that person in every
table and text, in ``[-max_days, -1] U [1, max_days]``. A date span of free text is shifted by
the offset of the person the record is about and written back in its original format; text
that does not parse as a date is redacted (never passed through).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from privtune.deid.dates import format_like, parse_date
from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import DateShiftOp


def offset_days(env: Env, person: str, max_days: int) -> int:
    n = env.keyed.integer("date-shift", person) % (2 * max_days)
    return n - max_days if n < max_days else n - max_days + 1


class DateShift:
    def __init__(self, spec: DateShiftOp, env: Env) -> None:
        self.spec = spec
        self.env = env

    def apply(self, value: Any, target: Target) -> Any:
        if value is None or str(value).strip() == "":
            return value
        parsed = parse_date(value)
        if parsed is None:
            return f"[{target.entity}]" if target.entity is not None else None
        d, fmt = parsed
        shifted = d + dt.timedelta(days=offset_days(self.env, target.person or "", self.spec.max_days))
        if isinstance(value, dt.date):
            return shifted
        return format_like(shifted, fmt)
