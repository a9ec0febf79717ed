"""Write and read the synthetic tables (CSV, JSONL, Parquet) and JSONL records, atomically.

Every file is written to a temporary name in its directory and renamed into place, so a file
under its final name is always complete. The same rows give the same bytes every time.
:func:`read_table` reads any of the three formats back into a ``pyarrow.Table`` with the fixed
schema (the CSV reader would otherwise turn ``zip`` "02139" into a number).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from privtune.errors import ConfigError, InputError
from privtune.synth.vocab import EMPLOYEE_COLUMNS, LEAVE_COLUMNS

FORMATS: dict[str, str] = {"csv": ".csv", "json": ".jsonl", "parquet": ".parquet"}

_INT_COLS = {"salary", "bonus", "performance_rating", "leave_days_taken"}
_BOOL_COLS = {"medical_leave", "medical"}


def _schema(columns: tuple[str, ...]) -> pa.Schema:
    def typ(c: str) -> pa.DataType:
        return pa.int64() if c in _INT_COLS else pa.bool_() if c in _BOOL_COLS else pa.string()

    return pa.schema([pa.field(c, typ(c), nullable=False) for c in columns])


EMPLOYEE_SCHEMA = _schema(EMPLOYEE_COLUMNS)
LEAVE_SCHEMA = _schema(LEAVE_COLUMNS)


def check_format(fmt: str) -> str:
    """The file extension for ``fmt``, or :class:`ConfigError`."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown table format; allowed: {', '.join(FORMATS)}", key="fmt")
    return FORMATS[fmt]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_bytes(path, _jsonl(rows))


def _csv_cell(v: Any) -> Any:
    return ("true" if v else "false") if isinstance(v, bool) else v


def write_table(path: Path, rows: list[dict[str, Any]], schema: pa.Schema, fmt: str) -> None:
    """Write ``rows`` (dicts in schema column order) as csv, json (JSONL) or parquet."""
    check_format(fmt)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(schema.names)
        for r in rows:
            w.writerow([_csv_cell(r[c]) for c in schema.names])
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    elif fmt == "json":
        write_jsonl(path, ({c: r[c] for c in schema.names} for r in rows))
    else:
        table = pa.Table.from_pylist(rows, schema=schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="snappy")
        atomic_write_bytes(path, sink.getvalue().to_pybytes())


def read_table(path: str | Path, schema: pa.Schema | None = None) -> pa.Table:
    """Read a table written by :func:`write_table`; the format comes from the extension.

    ``schema`` defaults to the employee or leave schema, chosen by the file name.
    """
    path = Path(path)
    if schema is None:
        schema = LEAVE_SCHEMA if path.name.startswith("leave") else EMPLOYEE_SCHEMA
    if not path.is_file():
        raise InputError("table file not found", path=path)
    try:
        if path.suffix == ".csv":
            opts = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=False, quoted_strings_can_be_null=False)
            table = pacsv.read_csv(path, convert_options=opts)
        elif path.suffix == ".jsonl":
            table = pajson.read_json(path, parse_options=pajson.ParseOptions(explicit_schema=schema))
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            raise InputError("unknown table extension; expected .csv, .jsonl or .parquet", path=path)
        missing = [c for c in schema.names if c not in table.column_names]
        if missing:
            raise InputError("required column is missing", path=path, field=missing[0])
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"table cannot be parsed ({type(exc).__name__})", path=path) from None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSONL file; errors name the line, never its content."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    raise InputError("line is not valid JSON", path=path, row=i) from None
    return out
