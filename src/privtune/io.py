"""Serialising data to and from stored objects: Parquet tables, JSONL records, JSON documents.

The readers take anything with ``get(ref) -> bytes`` (a :class:`privtune.vault.Vault`), so this
module sits at the bottom floor and every stage and library package can share it.

:func:`parse_json` is the one strict parser for JSON that comes from outside (an export, a
``pii detect`` input): it refuses what ``json.loads`` lets through or crashes on (nesting deeper
than :data:`MAX_JSON_DEPTH`, integers past Python's digit limit, ``NaN``/``Infinity``, lone
UTF-16 surrogates that no encoder can write back) with an :class:`~privtune.errors.InputError`
naming the file and line, never the content.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from privtune.errors import InputError

#: Deepest nesting of arrays and objects accepted from outside (an HR record needs a few).
MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str, *, path: str | Path | None = None, row: int | None = None) -> Any:
    """``json.loads`` for untrusted input, with typed errors (see the module docstring)."""
    try:
        obj = json.loads(text, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}" if row is None else f"column {exc.colno}"
        raise InputError(f"invalid JSON at {where}", path=path, row=row) from None
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", path=path, row=row) from None
    except ValueError as exc:  # an integer past the digit limit, NaN / Infinity
        reason = "a number too long to read" if "digits" in str(exc) else "NaN or Infinity"
        raise InputError(f"invalid JSON: {reason}", path=path, row=row) from None
    _check_tree(obj, path, row)
    return obj


def _check_tree(obj: Any, path: str | Path | None, row: int | None) -> None:
    """Depth, finite numbers and well-formed strings, without recursion."""
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise InputError("invalid JSON: a lone UTF-16 surrogate in a string", path=path, row=row)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InputError("invalid JSON: a number out of range", path=path, row=row)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise InputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", path=path, row=row)
            if isinstance(value, dict):
                stack.extend((k, depth + 1) for k in value)
                stack.extend((v, depth + 1) for v in value.values())
            else:
                stack.extend((v, depth + 1) for v in value)


class BlobSource(Protocol):
    """Where stored objects are read from by reference (the vault)."""

    def get(self, ref: str) -> bytes: ...


def table_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def read_table(source: BlobSource, ref: str) -> pa.Table:
    return pq.read_table(io.BytesIO(source.get(ref)))


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()


def read_jsonl(source: BlobSource, ref: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in source.get(ref).decode("utf-8").splitlines() if line]


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()


def read_json(source: BlobSource, ref: str) -> Any:
    return json.loads(source.get(ref))
