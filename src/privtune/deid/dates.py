"""Parse dates written in the common forms and write a new date back in the same form.

Used by date shifting and date generalisation on both table cells (ISO dates, ``date``
objects) and date spans found in free text ('14.03.1985', '3/4/19', 'March 8, 2023',
'13 Feb 2024', '14th of March 1985').
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

#: Formats tried in order (day-first dotted, US slashed, written months).
FORMATS: tuple[str, ...] = (
    "%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%m/%d/%y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y",
    "%b %d %Y", "%d %B %Y", "%d %b %Y", "%b. %d, %Y", "%Y/%m/%d", "%d.%m.%y",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
)  # fmt: skip


def _literals(fmt: str) -> frozenset[str]:
    return frozenset(re.sub(r"%.", "", fmt).replace(" ", ""))


#: Per format: the literal characters a text must contain, and whether it names a month.
_PLAN = tuple((fmt, _literals(fmt), "%b" in fmt or "%B" in fmt) for fmt in FORMATS)
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)(?:\s+of)?\b", re.IGNORECASE)


def parse_date(value: Any) -> tuple[dt.date, str] | None:
    """``(date, format)`` for a date value or string, or ``None`` when it is not a date."""
    if isinstance(value, dt.datetime):
        return value.date(), "%Y-%m-%d"
    if isinstance(value, dt.date):
        return value, "%Y-%m-%d"
    if value is None:
        return None
    text = " ".join(_ORDINAL.sub(r"\1", str(value)).split())
    chars = set(text)
    has_letters = any(c.isalpha() for c in text)
    for fmt, needs, named_month in _PLAN:
        if (named_month != has_letters and "T" not in needs) or not needs <= chars:
            continue  # cheap pre-filter: strptime would fail anyway
        try:
            return dt.datetime.strptime(text, fmt).date(), fmt
        except ValueError:
            continue
    return None


def format_like(d: dt.date, fmt: str) -> str:
    """``d`` written with ``fmt`` (two-digit years stay two digits)."""
    return d.strftime(fmt)
