"""Column contracts of an HR export: the columns each table must have, and the check.

``read_table`` returns every column as ``pa.string()``; this module says which columns a
table of each kind must carry and raises an :class:`~privtune.errors.InputError` naming the
first missing one (names only, never values).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from privtune.errors import InputError

#: Columns without which a table of that kind cannot be used.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "employees": ("employee_id", "first_name", "last_name"),
    "leave": ("leave_id", "employee_id", "start_date", "end_date", "leave_type"),
    "reviews": ("id", "employee_id", "text"),
    "tickets": ("id", "employee_id", "text"),
}


def require_columns(table: pa.Table, required: Iterable[str], path: str | Path | None) -> None:
    """Raise :class:`InputError` naming ``path`` and the first required column ``table`` lacks."""
    present = set(table.column_names)
    missing = [c for c in required if c not in present]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise InputError(f"missing required column '{missing[0]}'{more}", path=path, field=missing[0])
