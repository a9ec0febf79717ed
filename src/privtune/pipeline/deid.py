"""Stages ``scan`` and ``deidentify``: find personal data, then remove or pseudonymise it.

``scan`` writes counts only (per column class, per entity type) to ``reports/pii-scan.json``.
``deidentify`` writes de-identified versions of the tables and texts to the vault, with the
raw versions as lineage parents. The pseudonym key lives in the vault.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

from privtune.fsutil import atomic_write_text
from privtune.pii import (
    ENTITY_TYPES,
    Pseudonymizer,
    Roster,
    classify_columns,
    deidentify_employees,
    deidentify_texts,
    scan_table,
    scan_texts,
)
from privtune.pipeline.io import jsonl_bytes, read_jsonl, read_table, table_bytes
from privtune.pipeline.result import StageResult
from privtune.workspace import PSEUDONYM_KEY, Workspace

TEXT_SETS = ("reviews", "tickets")
MASK_RE = re.compile(r"\[(?:%s)\]" % "|".join(ENTITY_TYPES))


def scan(ws: Workspace, refs: dict[str, str]) -> StageResult:
    t0 = time.perf_counter()
    employees = read_table(ws.vault, refs["employees"])
    roster = Roster.from_employees(employees)
    classes = classify_columns(employees)
    by_class: dict[str, list[str]] = {}
    for col, cls in classes.items():
        by_class.setdefault(str(getattr(cls, "kind", cls)), []).append(col)
    table_report = scan_table(employees, roster)
    entities: Counter[str] = Counter()
    texts_scanned = 0
    text_reports = {}
    for name in TEXT_SETS:
        if name in refs:
            records = read_jsonl(ws.vault, refs[name])
            rep = scan_texts(records, roster)
            text_reports[name] = rep
            texts_scanned += len(records)
            entities.update(rep.get("types", {}))
    report = {
        "objects": {k: v for k, v in refs.items() if k in ("employees", *TEXT_SETS)},
        "column_classes": by_class,
        "columns": table_report,
        "texts": text_reports,
    }
    atomic_write_text(ws.reports_dir / "pii-scan.json", json.dumps(report, indent=2, sort_keys=True))
    res = StageResult("scan")
    res.figures = {
        "columns_by_class": {k: len(v) for k, v in sorted(by_class.items())},
        "direct_identifier_columns": sorted(by_class.get("direct_identifier", [])),
        "texts_scanned": texts_scanned,
        "entities_in_texts": dict(sorted(entities.items())),
        "report": "reports/pii-scan.json",
    }
    res.seconds = time.perf_counter() - t0
    return res


def deidentify(ws: Workspace, refs: dict[str, str]) -> StageResult:
    t0 = time.perf_counter()
    key_ref = ws.vault.resolve(PSEUDONYM_KEY)
    pseudo = Pseudonymizer(ws.vault.get(key_ref))
    employees = read_table(ws.vault, refs["employees"])
    roster = Roster.from_employees(employees)
    res = StageResult("deidentify")
    deid = deidentify_employees(employees, pseudo)
    res.outputs["employees"] = ws.vault.put(
        "employees-deid", table_bytes(deid), kind="table", schema="parquet",
        parents=[refs["employees"], key_ref], meta={"rows": deid.num_rows},
    )
    dropped = sorted(set(employees.column_names) - set(deid.column_names))
    masked = 0
    for name in TEXT_SETS:
        if name not in refs:
            continue
        records = read_jsonl(ws.vault, refs[name])
        out = deidentify_texts(records, roster, pseudo)
        masked += sum(len(MASK_RE.findall(str(r.get("text", "")))) for r in out)
        res.outputs[name] = ws.vault.put(
            f"{name}-deid", jsonl_bytes(out), kind="texts", schema="jsonl",
            parents=[refs[name], refs["employees"], key_ref], meta={"rows": len(out)},
        )
    res.figures = {
        "columns_dropped": len(dropped),
        "columns_kept": deid.num_columns,
        "spans_masked": masked,
    }
    res.seconds = time.perf_counter() - t0
    return res
