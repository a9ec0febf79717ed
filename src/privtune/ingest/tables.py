"""Read one table file (CSV, JSON array, JSON Lines, Parquet) into an all-string Arrow table.

Every column comes back as ``pa.string()`` whatever the source format, so identifiers, zip codes
and phone numbers keep their exact spelling (``"02134"`` never becomes ``2134``) and every later
stage sees one type. Empty cells and empty strings (in every format) and JSON ``null`` become nulls; JSON ``true``/``false`` become
``"true"``/``"false"``; numbers keep the spelling JSON gives them.

Errors are :class:`~privtune.errors.InputError` naming the file and the 1-based data row (the
CSV header is not counted; in JSON Lines the row is the line number) and never quoting content.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from privtune.errors import InputError
from privtune.ingest.schema import require_columns
from privtune.io import parse_json

#: File extensions ``read_table`` understands.
TABLE_EXTENSIONS: tuple[str, ...] = (".csv", ".json", ".jsonl", ".parquet")


def read_table(path: str | Path, required: Iterable[str] | None = None) -> pa.Table:
    """Read ``path`` into an all-string :class:`pyarrow.Table`; check ``required`` columns."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in TABLE_EXTENSIONS:
        raise InputError(
            f"unsupported file type '{p.suffix or '(none)'}'; supported: {', '.join(TABLE_EXTENSIONS)}",
            path=p,
        )
    if not p.is_file():
        raise InputError("file not found", path=p)
    if p.stat().st_size == 0:
        raise InputError("file is empty", path=p)
    if ext == ".parquet":
        table = _read_parquet(p)
    else:
        text = _read_text(p)
        if not text.strip():
            raise InputError("file is empty", path=p)
        if ext == ".csv":
            table = _read_csv(text, p)
        elif ext == ".json":
            table = _records_to_table(_json_array(text, p), p)
        else:
            table = _records_to_table(_json_lines(text, p), p)
    if table.num_rows == 0:
        raise InputError("file holds a header but no rows", path=p)
    if required is not None:
        require_columns(table, required, p)
    return table


def _read_text(p: Path) -> str:
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (line {line})", path=p) from None


# ---------------------------------------------------------------- CSV


def _read_csv(text: str, p: Path) -> pa.Table:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error:
        raise InputError("malformed CSV header", path=p, row=0) from None
    except StopIteration:  # pragma: no cover - text is non-blank
        raise InputError("file is empty", path=p) from None
    header = [h.strip() for h in header]
    _check_header(header, p)
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    row = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            raise InputError(
                f"malformed CSV (bad quoting) near line {reader.line_num}", path=p, row=row + 1
            ) from None
        if not fields:  # a blank line
            continue
        row += 1
        if len(fields) != width:
            raise InputError(
                f"expected {width} fields, found {len(fields)} (line {reader.line_num})", path=p, row=row
            )
        for col, value in zip(columns, fields):
            col.append(value if value != "" else None)
    return pa.table({name: pa.array(col, type=pa.string()) for name, col in zip(header, columns)})


def _check_header(header: list[str], p: Path) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"column {i} of the header has no name", path=p, row=0)
        if name in seen:
            raise InputError("duplicate column in header", path=p, row=0, field=name)
        seen.add(name)


# ---------------------------------------------------------------- JSON


def _json_array(text: str, p: Path) -> list[tuple[int, Any]]:
    data = parse_json(text, path=p)
    if not isinstance(data, list):
        raise InputError("expected a JSON array of objects at the top level", path=p)
    return list(enumerate(data, start=1))


def _json_lines(text: str, p: Path) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        out.append((lineno, parse_json(line, path=p, row=lineno)))
    return out


def _records_to_table(records: list[tuple[int, Any]], p: Path) -> pa.Table:
    if not records:
        raise InputError("file holds no records", path=p)
    names: dict[str, None] = {}
    for row, rec in records:
        if not isinstance(rec, dict):
            raise InputError(f"expected a JSON object, found {_json_kind(rec)}", path=p, row=row)
        for key in rec:
            names.setdefault(key, None)
    columns = {
        name: pa.array([_cell(rec.get(name), p, row, name) for row, rec in records], type=pa.string())
        for name in names
    }
    return pa.table(columns)


def _cell(value: Any, p: Path, row: int, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise InputError(f"expected a scalar value, found {_json_kind(value)}", path=p, row=row, field=name)


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )


# ---------------------------------------------------------------- Parquet


def _read_parquet(p: Path) -> pa.Table:
    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError):
        raise InputError("not a readable Parquet file", path=p) from None
    if table.num_columns == 0:
        raise InputError("file holds no columns", path=p)
    columns = {}
    for name, col in zip(table.column_names, table.columns):
        as_str = _to_string(col, p, name)
        columns[name] = pc.if_else(pc.equal(as_str, ""), pa.scalar(None, pa.string()), as_str)
    return pa.table(columns)


def _to_string(col: pa.ChunkedArray, p: Path, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return col.cast(pa.string())
    if pa.types.is_boolean(t):
        return pa.chunked_array(
            [pa.array([None if v is None else ("true" if v else "false") for v in col.to_pylist()], pa.string())]
        )
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return col.cast(pa.string())
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return pa.chunked_array(
            [pa.array([None if v is None else v.isoformat() for v in col.to_pylist()], pa.string())]
        )
    raise InputError(f"column type {t} is not supported; expected scalar columns", path=p, field=name)
