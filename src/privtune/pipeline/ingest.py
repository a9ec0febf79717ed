"""Stage ``ingest``: an HRIS export directory -> versioned vault objects, all or none.

Tables (CSV / JSON / JSONL / Parquet) are stored as Parquet, free texts as JSONL, policies as one
JSON object. The export itself is the user's; privtune never copies it anywhere but the vault.

One export is one transaction: every file is read and checked first (a malformed file, a
header-only table, a missing or duplicate employee id, a reference to an unknown employee is an
:class:`~privtune.errors.InputError` naming file, row and column before anything is written),
then all objects and their subject-index rows are written in one
:meth:`~privtune.vault.Vault.transaction`, so "latest" never mixes two exports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtune.ingest import check_ids, discover_export, read_table, read_texts
from privtune.io import json_bytes, jsonl_bytes, table_bytes
from privtune.pipeline.result import StageResult
from privtune.workspace import Workspace

EMPLOYEE_ID = "employee_id"


@dataclass
class _Part:
    """One checked object of the export, ready to write."""

    name: str
    data: bytes
    kind: str
    schema: str
    meta: dict[str, Any]
    rows: int
    subjects: list[str | None] | None  # employee ids to index, or None (policies)


def read_export(export_dir: str | Path) -> list[_Part]:
    """Read and check every file of the export; nothing is written."""
    files = discover_export(export_dir)
    parts: list[_Part] = []
    employees = read_table(files.employees, required=[EMPLOYEE_ID])
    ids = check_ids(employees.column(EMPLOYEE_ID).to_pylist(), files.employees, EMPLOYEE_ID,
                    unique=True)
    known = {i for i in ids if i is not None}
    parts.append(_Part("employees", table_bytes(employees), "table", "parquet",
                       {"rows": employees.num_rows, "columns": employees.num_columns,
                        "source_format": files.employees.suffix.lstrip(".")},
                       employees.num_rows, ids))
    if files.leave is not None:
        leave = read_table(files.leave, required=[EMPLOYEE_ID])
        leave_ids = check_ids(leave.column(EMPLOYEE_ID).to_pylist(), files.leave, EMPLOYEE_ID,
                              known=known)
        parts.append(_Part("leave", table_bytes(leave), "table", "parquet",
                           {"rows": leave.num_rows}, leave.num_rows, leave_ids))
    for name in ("reviews", "tickets"):
        path = getattr(files, name)
        if path is None:
            continue
        records = read_texts(path)
        text_ids = check_ids([r.get(EMPLOYEE_ID) for r in records], path, EMPLOYEE_ID,
                             known=known, required=False)
        parts.append(_Part(name, jsonl_bytes(records), "texts", "jsonl", {"rows": len(records)},
                           len(records), text_ids))
    policies = files.read_policies()
    if policies:
        parts.append(_Part("policies", json_bytes(policies), "texts", "json-map",
                           {"documents": len(policies)}, len(policies), None))
    return parts


def ingest_export(ws: Workspace, export_dir: str | Path) -> StageResult[None]:
    t0 = time.perf_counter()
    parts = read_export(export_dir)
    res = StageResult("ingest", None)
    rows: dict[str, int] = {}
    subjects = ws.subjects()
    with ws.vault.transaction():
        for part in parts:
            ref = ws.vault.put(part.name, part.data, kind=part.kind, schema=part.schema,
                               meta=part.meta)
            res.outputs[part.name] = ref
            rows[part.name] = part.rows
            if part.subjects is not None:
                subjects.index(ref, part.subjects)
    rows.setdefault("policies", 0)
    res.figures = {"rows": rows}
    res.seconds = time.perf_counter() - t0
    return res
