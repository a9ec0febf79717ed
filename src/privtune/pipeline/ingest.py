"""Stage ``ingest``: an HRIS export directory -> versioned vault objects, all or none.

Tables (CSV / JSON / JSONL / Parquet) are stored as Parquet, free texts as JSONL, policies as one
JSON object, and the schema mapping (:mod:`privtune.pii.mapping`: which column plays which role;
column names only) as ``schema-mapping``. The export itself is the user's; privtune never copies
it anywhere but the vault.

Columns are found through the mapping (``--mapping FILE``, else ``EXPORT/privtune-mapping.yaml``,
else inferred), never by a fixed name; an employees table with no id or no name column is a
:class:`~privtune.pii.mapping.SchemaMappingError` naming the mapping file to edit.

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

from privtune.errors import ConfigError
from privtune.ingest import ExportFiles, check_ids, discover_export, read_table, read_texts
from privtune.io import json_bytes, jsonl_bytes, table_bytes
from privtune.pii.mapping import (
    MAPPING_FILE,
    MAPPING_OBJECT,
    SchemaMapping,
    SchemaMappingError,
    TableMapping,
    check_person_table,
    load_mapping,
    mapping_for_records,
    mapping_for_table,
)
from privtune.pipeline.result import StageResult
from privtune.workspace import Workspace


@dataclass
class _Part:
    """One checked object of the export, ready to write."""

    name: str
    data: bytes
    kind: str
    schema: str
    meta: dict[str, Any]
    rows: int
    subjects: list[str | None] | None  # employee ids to index, or None (policies, mapping)


def _given_mapping(files: ExportFiles, mapping_path: str | Path | None) -> tuple[SchemaMapping, Path]:
    """The user's mapping (``--mapping``, else ``EXPORT/privtune-mapping.yaml``) or an empty
    one to infer from, and the file the user should edit."""
    path = Path(mapping_path) if mapping_path is not None else files.root / MAPPING_FILE
    if mapping_path is not None or path.is_file():
        return load_mapping(path), path
    return SchemaMapping(), path


def _checked(given: TableMapping, columns: list[str], table: str, mapping_path: Path) -> None:
    for col in given.columns:
        if col not in columns:
            raise ConfigError(f"{mapping_path}: the mapping names column '{col}' of table "
                              f"'{table}', which the export does not have",
                              key=f"tables.{table}.columns.{col}")


def read_export(export_dir: str | Path, mapping_path: str | Path | None = None) -> list[_Part]:
    """Read and check every file of the export; nothing is written.

    Columns are found through the schema mapping (``mapping_path``, else the export's
    ``privtune-mapping.yaml``, else inferred): an employees table without an id or a name
    column is a :class:`~privtune.pii.mapping.SchemaMappingError` naming the mapping file."""
    files = discover_export(export_dir)
    given, where = _given_mapping(files, mapping_path)
    parts: list[_Part] = []
    employees = read_table(files.employees)
    _checked(given.table("employees"), employees.column_names, "employees", where)
    emp_map = mapping_for_table(employees, given.table("employees"))
    check_person_table(emp_map, where, files.employees)
    id_col = emp_map.column("employee_id")
    assert id_col is not None  # check_person_table
    ids = check_ids(employees.column(id_col).to_pylist(), files.employees, id_col, unique=True)
    known = {i for i in ids if i is not None}
    tables: dict[str, TableMapping] = {"employees": emp_map}
    parts.append(_Part("employees", table_bytes(employees), "table", "parquet",
                       {"rows": employees.num_rows, "columns": employees.num_columns,
                        "source_format": files.employees.suffix.lstrip(".")},
                       employees.num_rows, ids))
    if files.leave is not None:
        leave = read_table(files.leave)
        _checked(given.table("leave"), leave.column_names, "leave", where)
        tables["leave"] = leave_map = mapping_for_table(leave, given.table("leave"))
        ref_col = leave_map.column("employee_id")
        if ref_col is None:
            raise SchemaMappingError(
                f"no employee id column in the leave table; set `role: employee_id` on it in the "
                f"mapping file {where}", mapping_path=where, table_path=files.leave, role="employee_id")
        leave_ids = check_ids(leave.column(ref_col).to_pylist(), files.leave, ref_col, known=known)
        parts.append(_Part("leave", table_bytes(leave), "table", "parquet",
                           {"rows": leave.num_rows}, leave.num_rows, leave_ids))
    for name in ("reviews", "tickets"):
        path = getattr(files, name)
        if path is None:
            continue
        records = read_texts(path)
        text_map = mapping_for_records(records, given.table(name))
        tables[name] = text_map
        ref_field = text_map.column("employee_id")
        text_ids: list[str | None] = (check_ids([r.get(ref_field) for r in records], path, ref_field, known=known,
                              required=False) if ref_field is not None else [None] * len(records))
        parts.append(_Part(name, jsonl_bytes(records), "texts", "jsonl", {"rows": len(records)},
                           len(records), text_ids))
    policies = files.read_policies()
    if policies:
        parts.append(_Part("policies", json_bytes(policies), "texts", "json-map",
                           {"documents": len(policies)}, len(policies), None))
    mapping = SchemaMapping(tables=tables)
    parts.append(_Part(MAPPING_OBJECT, json_bytes(mapping.model_dump(mode="json")), "blob",
                       "schema-mapping-json",
                       {"source": "file" if where.is_file() else "inferred"}, len(tables), None))
    return parts


#: Optional roles of each table and what their absence disables (shown as warnings at ingest).
OPTIONAL_ROLES: dict[str, dict[str, str]] = {
    "employees": {
        "department": "employee_fact examples about the department",
        "job_title": "employee_fact examples about the job title",
        "manager_id": "employee_fact examples about the manager",
        "salary": "employee_fact examples about the salary band",
        "performance_rating": "employee_fact examples about the performance rating, and the "
                              "attribute-inference probe of the privacy audit",
        "date_of_birth": "birth_year as a quasi-identifier in the k-anonymity check",
        "zip": "zip3 as a quasi-identifier in the k-anonymity check",
        "hire_date": "hire_year as a quasi-identifier in the k-anonymity check",
    },
    "tickets": {
        "category": "every ticket_triage example (the category is the answer)",
        "employee_id": "every ticket_triage example (a ticket without its author cannot be "
                       "put in a privacy unit)",
    },
    "reviews": {"employee_id": "linking reviews to their employees (subject access, erasure)"},
}


def missing_role_warnings(tables: dict[str, TableMapping]) -> list[str]:
    """One warning per optional role an ingested table lacks, saying what that disables."""
    out = []
    for table, roles in OPTIONAL_ROLES.items():
        mapping = tables.get(table)
        if mapping is None:
            continue
        for role, disables in roles.items():
            if mapping.column(role) is None:
                out.append(f"{table}: no column with the role '{role}' (missing or renamed: set "
                           f"`role: {role}` on it in the schema mapping, `privtune schema infer`); "
                           f"this disables {disables}")
    return out


def propose_mapping(ws: Workspace, export_dir: str | Path) -> SchemaMapping:
    """``privtune schema infer``: the proposed mapping of every table of an export, for the
    user to review. Reading an export reads personal data: ``data.read`` is checked (and
    audited) before any file is opened."""
    ws.guard("data.read", "export", action="schema-infer")
    files = discover_export(export_dir)
    employees = read_table(files.employees)
    tables = {"employees": mapping_for_table(employees)}
    if files.leave is not None:
        tables["leave"] = mapping_for_table(read_table(files.leave))
    for name in ("reviews", "tickets"):
        path = getattr(files, name)
        if path is not None:
            tables[name] = mapping_for_records(read_texts(path))
    return SchemaMapping(tables=tables)


def ingest_export(ws: Workspace, export_dir: str | Path,
                  mapping: str | Path | None = None) -> StageResult[None]:
    t0 = time.perf_counter()
    # Permission first (audited), before the export is parsed.
    ws.guard("data.write", "employees", action="ingest")
    parts = read_export(export_dir, mapping)
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
    rows.pop(MAPPING_OBJECT, None)
    res.figures = {"rows": rows}
    stored = next(p for p in parts if p.name == MAPPING_OBJECT)
    tables = SchemaMapping.model_validate_json(stored.data).tables
    res.warnings = missing_role_warnings(tables)
    if not rows["policies"]:
        res.warnings.append("no policy documents (EXPORT/policies/*.md): no policy_qa examples, "
                            "and the base model is pre-trained on generic HR text only")
    res.seconds = time.perf_counter() - t0
    return res
