"""``generalize``: coarser values. Dates to ``year`` or ``month``; ``age_band`` (``"30-39"``);
``zip3`` (HIPAA option: the 17 restricted prefixes become ``000``); ``band`` of numbers
(``"80k-90k"`` for widths in thousands, ``"30-39"`` otherwise); ``prefix`` of a string.
Values that cannot be generalised (not a date, not a number) become null: never the original.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from privtune.deid.dates import parse_date
from privtune.deid.hipaa_zip3 import RESTRICTED_ZIP3
from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import GeneralizeOp


def band(value: Any, width: int) -> str | None:
    try:
        amount = float(str(value).replace(",", "").replace("$", "").strip())
    except (TypeError, ValueError):
        return None
    low = int(amount // width) * width
    if width % 1000 == 0 and low % 1000 == 0:
        return f"{low // 1000}k-{(low + width) // 1000}k"
    return f"{low}-{low + width - 1}"


def zip3(value: Any, hipaa: bool = False) -> str | None:
    digits = re.sub(r"\D", "", str(value)) if value is not None else ""
    if len(digits) < 5:
        return None
    prefix = digits[:3]
    return "000" if hipaa and prefix in RESTRICTED_ZIP3 else prefix


def age_band(value: Any, width: int, today: dt.date) -> str | None:
    parsed = parse_date(value)
    if parsed is None:
        return None
    born = parsed[0]
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    low = age // width * width
    return f"{low}-{low + width - 1}"


class Generalize:
    def __init__(self, spec: GeneralizeOp, env: Env) -> None:
        self.spec = spec
        self.today = spec.reference_date or dt.date.today()

    def apply(self, value: Any, target: Target) -> Any:
        if value is None or str(value).strip() == "":
            return None
        m = self.spec.method
        if m in ("year", "month"):
            parsed = parse_date(value)
            if parsed is None:
                return None
            d = parsed[0]
            return f"{d.year}" if m == "year" else f"{d.year}-{d.month:02d}"
        if m == "age_band":
            return age_band(value, self.spec.width, self.today)
        if m == "zip3":
            return zip3(value, self.spec.hipaa)
        if m == "band":
            return band(value, self.spec.width)
        text = str(value)
        return text[: self.spec.width] + ("*" if len(text) > self.spec.width else "")
