"""Serialising data to and from stored objects: Parquet tables, JSONL records, JSON documents.

The readers take anything with ``get(ref) -> bytes`` (a :class:`privtune.vault.Vault`), so this
module sits at the bottom floor and every stage and library package can share it.
"""

from __future__ import annotations

import io
import json
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq


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
