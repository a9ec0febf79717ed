"""Generalisation hierarchies of quasi-identifiers for the k-anonymity search.

A hierarchy is a list of functions ``value -> generalised value``; level 0 is the identity and
the last level is always ``*`` (the value suppressed in that column). Types:

* ``band`` (numbers, or year/``80k-90k``-style bands): bands of each width in ``widths``,
* ``prefix`` (ZIP-like strings): the first n characters for each n in ``lengths``,
* ``date`` (ISO dates): month, year, then ``widths`` year bands,
* ``categorical``: the value, then ``*``.

:func:`infer_hierarchy` picks one from the column's values when the policy names none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from privtune.anonymity.model import SUPPRESSED
from privtune.deid.dates import parse_date
from privtune.deid.policy import Hierarchy

Level = Callable[[Any], Any]
_BAND = re.compile(r"^\s*(-?\d+(?:\.\d+)?)(k?)\s*-\s*(-?\d+(?:\.\d+)?)k?\s*$")
DEFAULT_WIDTHS = [5, 10, 20]
DEFAULT_DATE_WIDTHS = [5, 10]


def _number(value: Any) -> float | None:
    """A number, or the lower bound of a band such as ``"30-39"`` or ``"80k-90k"``."""
    if value is None:
        return None
    s = str(value).replace(",", "").replace("$", "").strip()
    m = _BAND.match(s)
    if m:
        return float(m.group(1)) * (1000 if m.group(2) else 1)
    try:
        return float(s)
    except ValueError:
        return None


def _band(width: int, thousands: bool) -> Level:
    def level(value: Any) -> Any:
        x = _number(value)
        if x is None:
            return SUPPRESSED
        lo = int(x // width) * width
        if thousands and width % 1000 == 0:
            return f"{lo // 1000}k-{(lo + width) // 1000}k"
        return f"{lo}-{lo + width - 1}"

    return level


def _prefix(n: int) -> Level:
    def level(value: Any) -> Any:
        s = "" if value is None else str(value)
        return s[:n] + "*" * max(0, len(s) - n) if s else SUPPRESSED

    return level


def _date(kind: str, width: int = 1) -> Level:
    def level(value: Any) -> Any:
        parsed = parse_date(value)
        if parsed is None:
            return SUPPRESSED
        d = parsed[0]
        if kind == "month":
            return f"{d.year}-{d.month:02d}"
        lo = d.year // width * width
        return str(lo) if width == 1 else f"{lo}-{lo + width - 1}"

    return level


def _identity(value: Any) -> Any:
    return value


def _star(value: Any) -> Any:
    return SUPPRESSED


def build_levels(spec: Hierarchy, values: Sequence[Any] = ()) -> list[Level]:
    """The levels of ``spec``, identity first, ``*`` last."""
    levels: list[Level] = [_identity]
    if spec.type == "band":
        thousands = any("k" in str(v) for v in values[:50] if v is not None) or any(
            (_number(v) or 0) >= 1000 for v in values[:50])
        levels += [_band(w, thousands) for w in (spec.widths or DEFAULT_WIDTHS)]
    elif spec.type == "prefix":
        longest = max((len(str(v)) for v in values if v is not None), default=5)
        levels += [_prefix(n) for n in (spec.lengths or list(range(longest - 1, 0, -1)))]
    elif spec.type == "date":
        levels += [_date("month"), _date("year")] + [_date("years", w) for w in (spec.widths or DEFAULT_DATE_WIDTHS)]
    levels.append(_star)
    return levels


def infer_hierarchy(values: Sequence[Any]) -> Hierarchy:
    """A hierarchy for a column from its values: dates, digit strings, numbers or categories."""
    present = [v for v in values if v is not None and str(v).strip() not in ("", SUPPRESSED)]
    if not present:
        return Hierarchy(type="categorical")
    sample = present[:200]
    if all(parse_date(v) is not None and not str(v).strip().isdigit() for v in sample):
        return Hierarchy(type="date")
    digit_strings = all(isinstance(v, str) and v.isdigit() for v in sample)
    years = digit_strings and all(len(v) == 4 and 1900 <= int(v) <= 2100 for v in sample)
    if digit_strings and not years:
        return Hierarchy(type="prefix")  # codes such as ZIPs: generalise by dropping digits
    if all(_number(v) is not None for v in sample):
        if all(isinstance(v, str) and _BAND.match(str(v)) for v in sample):
            base = _band_width(sample)
            return Hierarchy(type="band", widths=[base * m for m in (2, 4, 8)])
        return Hierarchy(type="band")
    return Hierarchy(type="categorical")


def _band_width(sample: Sequence[Any]) -> int:
    m = _BAND.match(str(sample[0]))
    assert m is not None
    mult = 1000 if m.group(2) else 1
    lo, hi = float(m.group(1)) * mult, float(m.group(3)) * mult
    width = hi - lo if mult == 1000 else hi - lo + 1
    return max(1, round(width))
