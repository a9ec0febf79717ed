"""Serialising stage data to and from vault objects (Parquet tables, JSONL records)."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from privtune.vault import Vault


def table_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def read_table(vault: Vault, ref: str) -> pa.Table:
    return pq.read_table(io.BytesIO(vault.get(ref)))


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()


def read_jsonl(vault: Vault, ref: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in vault.get(ref).decode("utf-8").splitlines() if line]


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()


def read_json(vault: Vault, ref: str) -> Any:
    return json.loads(vault.get(ref))
