"""De-identify the employees table and the free texts before anything is trained on them.

Employees (:func:`deidentify_employees`), column by column:

* dropped: names, e-mail, phone, SSN, home address, city, IBAN, every emergency-contact field,
  and the special-category fields ethnicity, marital status and medical leave (not needed to
  answer HR questions, and the most harmful if they leak);
* generalised: ``date_of_birth`` -> ``birth_year``, ``hire_date`` -> ``hire_year``, ``zip`` ->
  ``zip3`` (first three digits), ``salary`` -> ``salary_band`` (10k bands, ``"80k-90k"``),
  ``bonus`` -> ``bonus_band`` (5k bands);
* pseudonymised: ``employee_id`` and ``manager_id`` become :class:`Pseudonymizer` tokens of
  kind ``EMP`` (a manager's token equals that manager's own ``employee_id`` token);
* kept: department, job title, gender, state, performance rating, leave days taken;
* any other column is kept only if :func:`classify_columns` calls it ``non_personal``.

Texts (:func:`deidentify_texts`): every string field except ``id`` is masked with
:func:`detect` + :func:`mask_text`; ``employee_id``/``reviewer_id``/``manager_id`` fields
become tokens.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from privtune.pii.columns import NON_PERSONAL, classify_columns
from privtune.pii.detect import detect
from privtune.pii.mask import Pseudonymizer, mask_text
from privtune.pii.roster import Roster

DROP_COLUMNS: frozenset[str] = frozenset(
    {
        "first_name", "last_name", "email", "phone", "ssn", "home_address", "city", "iban",
        "emergency_contact_name", "emergency_contact_relation", "emergency_contact_phone",
        "ethnicity", "marital_status", "medical_leave",
    }
)  # fmt: skip
KEEP_COLUMNS: tuple[str, ...] = (
    "department", "job_title", "gender", "state", "performance_rating", "leave_days_taken",
)  # fmt: skip
TOKEN_FIELDS: frozenset[str] = frozenset({"employee_id", "manager_id", "reviewer_id"})


def _year(value: Any) -> int | None:
    m = re.match(r"\s*((?:19|20)\d{2})-\d{1,2}-\d{1,2}", str(value)) if value is not None else None
    return int(m.group(1)) if m else None


def _zip3(value: Any) -> str | None:
    digits = re.sub(r"\D", "", str(value)) if value is not None else ""
    return digits[:3] if len(digits) >= 5 else None


def _band(width: int) -> Callable[[Any], str | None]:
    def band(value: Any) -> str | None:
        try:
            amount = float(str(value).replace(",", "").replace("$", ""))
        except (TypeError, ValueError):
            return None
        low = int(amount // width) * width // 1000
        return f"{low}k-{low + width // 1000}k"

    return band


# output column -> (input column, transform)
_DERIVED: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("birth_year", "date_of_birth", _year),
    ("hire_year", "hire_date", _year),
    ("zip3", "zip", _zip3),
    ("salary_band", "salary", _band(10_000)),
    ("bonus_band", "bonus", _band(5_000)),
)


def deidentify_employees(table: pa.Table, pseudonymizer: Pseudonymizer) -> pa.Table:
    """The employees table with identifiers dropped, generalised or pseudonymised."""
    rows = table.to_pylist()
    names = table.column_names
    out: dict[str, pa.Array] = {}

    def tokens(col: str) -> pa.Array:
        return pa.array([pseudonymizer.token(r[col]) if r[col] else None for r in rows], pa.string())

    for col in ("employee_id", "manager_id"):
        if col in names:
            out[col] = tokens(col)
    for col in KEEP_COLUMNS:
        if col in names:
            out[col] = pa.array([r[col] for r in rows]).cast(pa.string())
    for new, src, fn in _DERIVED:
        if src in names:
            out[new] = pa.array([fn(r[src]) if r[src] is not None else None for r in rows])
    handled = DROP_COLUMNS | set(KEEP_COLUMNS) | {src for _, src, _ in _DERIVED} | set(out)
    rest = [c for c in names if c not in handled]
    if rest:
        classes = classify_columns(table.select(rest))
        for col in rest:
            if classes[col].kind == NON_PERSONAL:
                out[col] = table.column(col)
    return pa.table(out)


def deidentify_texts(
    records: Iterable[Mapping[str, Any]],
    roster: Roster | None,
    pseudonymizer: Pseudonymizer,
) -> list[dict[str, Any]]:
    """Copies of ``records`` with PII masked in string fields and person ids tokenised."""
    out: list[dict[str, Any]] = []
    for rec in records:
        new: dict[str, Any] = {}
        for key, value in rec.items():
            if key in TOKEN_FIELDS:
                new[key] = pseudonymizer.token(str(value)) if value not in (None, "") else value
            elif key == "id" or not isinstance(value, str):
                new[key] = value
            else:
                new[key] = mask_text(value, detect(value, roster))
        out.append(new)
    return out


def age_band(birth_year: int, today: dt.date | None = None, width: int = 10) -> str:
    """``"30-39"`` for someone born in ``birth_year`` (age at ``today``'s year)."""
    year = (today or dt.date.today()).year
    low = (year - birth_year) // width * width
    return f"{low}-{low + width - 1}"
