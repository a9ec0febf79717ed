"""Column checks of an HR export.

``read_table`` returns every column as ``pa.string()``. Which column holds what is the schema
mapping's business (:mod:`privtune.pii.mapping`), never a fixed column name here;
:func:`require_columns` raises an :class:`~privtune.errors.InputError` naming the first
missing column of a list the caller gives (names only, never values). :func:`check_ids` checks an id column: every
row has one, ids are unique where they must be, and references point at known ids; the
error names the file, the 1-based data row and the column, never the id.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from privtune.errors import InputError


def require_columns(table: pa.Table, required: Iterable[str], path: str | Path | None) -> None:
    """Raise :class:`InputError` naming ``path`` and the first required column ``table`` lacks."""
    present = set(table.column_names)
    missing = [c for c in required if c not in present]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise InputError(f"missing required column '{missing[0]}'{more}", path=path, field=missing[0])


def check_ids(values: Sequence[object], path: str | Path | None, column: str, *,
              unique: bool = False, known: Collection[str] | None = None,
              required: bool = True, known_name: str = "employees") -> list[str | None]:
    """The stripped ids of ``values`` (one per row); :class:`InputError` on the first bad row.

    ``required``: every row needs a non-blank id; ``unique``: no id twice; ``known``: every id
    present must be one of these (``known_name`` names where they come from).
    """
    out: list[str | None] = []
    seen: set[str] = set()
    for row, value in enumerate(values, start=1):
        text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
        if not text:
            if required:
                raise InputError("missing id", path=path, row=row, field=column)
            out.append(None)
            continue
        if unique:
            if text in seen:
                raise InputError("duplicate id (each row needs its own)", path=path, row=row,
                                 field=column)
            seen.add(text)
        if known is not None and text not in known:
            raise InputError(f"id not found in the {known_name} table", path=path, row=row,
                             field=column)
        out.append(text)
    return out
