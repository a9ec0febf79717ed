"""Stage ``ingest``: an HRIS export directory -> versioned vault objects.

Tables (CSV / JSON / JSONL / Parquet) are stored as Parquet, free texts as JSONL, policies as one
JSON object. The export itself is the user's; privtune never copies it anywhere but the vault.
"""

from __future__ import annotations

import time
from pathlib import Path

from privtune.ingest import discover_export, read_table, read_texts
from privtune.io import json_bytes, jsonl_bytes, table_bytes
from privtune.pipeline.result import StageResult
from privtune.workspace import Workspace

EMPLOYEE_ID = "employee_id"


def ingest_export(ws: Workspace, export_dir: str | Path) -> StageResult[None]:
    t0 = time.perf_counter()
    files = discover_export(export_dir)
    res = StageResult("ingest", None)
    rows: dict[str, int] = {}

    employees = read_table(files.employees, required=[EMPLOYEE_ID])
    res.outputs["employees"] = ws.vault.put(
        "employees", table_bytes(employees), kind="table", schema="parquet",
        meta={"rows": employees.num_rows, "columns": employees.num_columns,
              "source_format": files.employees.suffix.lstrip(".")},
    )
    rows["employees"] = employees.num_rows
    subjects = ws.subjects()
    subjects.index(res.outputs["employees"], employees.column(EMPLOYEE_ID).to_pylist())
    if files.leave is not None:
        leave = read_table(files.leave, required=[EMPLOYEE_ID])
        res.outputs["leave"] = ws.vault.put(
            "leave", table_bytes(leave), kind="table", schema="parquet",
            meta={"rows": leave.num_rows},
        )
        rows["leave"] = leave.num_rows
        subjects.index(res.outputs["leave"], leave.column(EMPLOYEE_ID).to_pylist())
    for name in ("reviews", "tickets"):
        path = getattr(files, name)
        if path is None:
            continue
        records = read_texts(path)
        res.outputs[name] = ws.vault.put(
            name, jsonl_bytes(records), kind="texts", schema="jsonl", meta={"rows": len(records)}
        )
        rows[name] = len(records)
        subjects.index(res.outputs[name], [r.get(EMPLOYEE_ID) for r in records])
    policies = files.read_policies()
    if policies:
        res.outputs["policies"] = ws.vault.put(
            "policies", json_bytes(policies), kind="texts", schema="json-map",
            meta={"documents": len(policies)},
        )
    rows["policies"] = len(policies)
    res.figures = {"rows": rows}
    res.seconds = time.perf_counter() - t0
    return res
