"""Right of access (GDPR Art. 15, CCPA right to know): one person's own records and how they
were processed, as JSON and a readable HTML page, written only where the caller says (0600).

Needs ``subject.export`` (admin, DPO); the data reads are audited under it
(``Guard.acting_for``). The package holds the person's rows and records from every readable
vault version that the subject index says holds them, and nothing about anyone else: another
employee's id in one of their cells (a manager, a reviewer) becomes ``[another employee]``,
and other people's names, e-mails, ids and phone numbers in their texts become
``[another person]``. The processing part lists the purposes, the categories (columns), the
roles that may read personal data, the retention, the transfers, and every adapter trained on
their data with its epsilon and release state.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from privtune.access.roles import MATRIX
from privtune.errors import InputError, KeyDestroyed, NotFoundError
from privtune.fsutil import private_output
from privtune.gate.adapters import ADAPTER_SCHEMA
from privtune.gate.registry import entry_for
from privtune.io import read_jsonl, read_table
from privtune.pii import Roster
from privtune.pii.mapping import TableMapping
from privtune.pipeline.roles import object_mapping, stored_mapping
from privtune.records import AdapterRecord
from privtune.store.models import utcnow
from privtune.workspace import Workspace

OTHER_EMPLOYEE = "[another employee]"
OTHER_PERSON = "[another person]"
SCHEMA = "privtune-subject-access/1"
PURPOSE = ("fine-tuning a local language model for an HR assistant on de-identified HR data "
           "(employee-level differential privacy), and auditing it for privacy")


@dataclass(frozen=True)
class AccessPackage:
    json_path: Path
    html_path: Path
    records: int


class _Others:
    """Everyone else in the person table: their ids and e-mails (exact cells) and a roster for
    texts. Columns are found by role (``mapping``), never by name."""

    def __init__(self, employees: pa.Table, me: str, mapping: TableMapping) -> None:
        id_col = mapping.column("employee_id")
        others = [r for r in employees.to_pylist() if str(r.get(id_col)) != me]
        self.ids = {str(r.get(id_col)) for r in others}
        self.emails = {str(r.get(c)).strip().lower() for r in others
                       for c in mapping.columns_of("email") if r.get(c)}
        own = [c for c in employees.column_names
               if not str(mapping.role(c)).startswith("emergency_")]
        self.roster = Roster.from_employees([{k: r.get(k) for k in own} for r in others],
                                            mapping.restricted(own))

    def cell(self, value: Any) -> Any:
        if isinstance(value, str) and (value.strip() in self.ids or value.strip().lower() in self.emails):
            return OTHER_EMPLOYEE
        return value

    def text(self, value: str) -> str:
        spans = sorted(self.roster.find(value) + self.roster.find_known(value),
                       key=lambda sp: sp.start, reverse=True)
        last = len(value) + 1
        for sp in spans:
            if sp.end <= last:
                value = value[:sp.start] + OTHER_PERSON + value[sp.end:]
                last = sp.start
        return value


def export_subject(ws: Workspace, subject_id: str, out: str | Path) -> AccessPackage:
    """Write the access package of ``subject_id`` to ``out`` (JSON) and ``out`` with ``.html``."""
    subject_id = str(subject_id).strip()
    if not subject_id or len(subject_id) > 128 or not subject_id.isprintable():
        raise InputError("an employee id is required (one printable line)", field="subject")
    out = Path(out)
    with ws.access.acting_for("subject.export", "subject-access",
                              subject=ws.access.keyed(subject_id)):
        hits = ws.subjects().find(subject_id)
        if not hits.direct:
            raise NotFoundError("no vault object holds data on this subject")
        gone = ws.vault.shredded()
        readable = [r for r in hits.direct if r not in gone]
        emp_refs = sorted((r for r in readable if r.split("@")[0] == "employees"),
                          key=lambda r: int(r.split("@")[1]))
        if not emp_refs:
            raise NotFoundError("the subject is in no readable version of the employees table")
        schema = stored_mapping(ws)
        emp_table = read_table(ws.vault, emp_refs[-1])
        others = _Others(emp_table, subject_id, object_mapping(schema, "employees", emp_table))
        data: dict[str, Any] = {}
        categories: dict[str, list[str]] = {}
        count = 0
        for ref in sorted(readable):
            m = ws.vault.manifest(ref)
            try:
                if m.kind == "table":
                    table = read_table(ws.vault, ref)
                    id_col = object_mapping(schema, m.name, table).column("employee_id")
                    all_rows = table.to_pylist()
                elif m.kind == "texts" and m.schema == "jsonl":
                    all_rows = read_jsonl(ws.vault, ref)
                    id_col = object_mapping(schema, m.name, all_rows).column("employee_id")
                else:
                    continue
            except KeyDestroyed:
                continue
            # the version's own id column (by role); none: nothing in it is theirs by id
            rows = [r for r in all_rows if id_col is not None and str(r.get(id_col)) == subject_id]
            mine = []
            for r in rows:
                rec = {}
                for k, v in r.items():
                    if k == id_col:
                        rec[k] = v
                        continue
                    v = others.cell(v)
                    rec[k] = others.text(v) if isinstance(v, str) and v != OTHER_EMPLOYEE else v
                mine.append(rec)
            data[ref] = mine
            count += len(mine)
            categories[m.name] = sorted({k for r in mine for k in r})
        models = []
        for ref in hits.derived:
            m = ws.vault.manifest(ref)
            if m.schema != ADAPTER_SCHEMA:
                continue
            arec = AdapterRecord.from_dict(dict(m.meta or {}))
            rel = entry_for(ws.store, ref)
            models.append({"adapter": ref, "differential_privacy": arec.dp,
                           "epsilon": arec.epsilon, "epsilon_person": arec.epsilon_person,
                           "delta": arec.privacy.get("delta"),
                           "release": rel.state if rel is not None else "not released",
                           "erased": ref in gone})
        readers = sorted(role for role, ops in MATRIX.items() if "data.read" in ops)
        package = {
            "schema": SCHEMA, "generated_at": utcnow().isoformat(timespec="seconds"),
            "controller": ws.config.controller or ws.config.name,
            "subject": subject_id,
            "your_data": data,
            "processing": {
                "purposes": [PURPOSE],
                "categories": categories,
                "recipients": {"roles that may read personal data in this workspace": readers,
                               "outside the workspace": "none: models leave only after a privacy "
                                                        "audit and release, never the data"},
                "transfers": "none (privtune runs offline; no third-country transfer)",
                "retention": "until erased or the export is replaced (no retention period "
                             "configured in this workspace)",
                "source": "the HR system export ingested into this workspace",
                "automated_decisions": "none",
                "models_trained_on_your_data": models,
                "objects_holding_your_data": readable,
                "objects_made_from_them": hits.derived,
            },
            "rights": "rectification, erasure (privtune subject erase), restriction, objection; "
                      "complaint to a supervisory authority",
        }
    html_path = out.with_suffix(".html")
    with private_output(out) as fh:
        fh.write(json.dumps(package, indent=2, default=str).encode())
    with private_output(html_path) as fh:
        fh.write(_html(package).encode())
    return AccessPackage(out, html_path, count)


def _html(pkg: dict[str, Any]) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Your data</title>",
             "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
             "padding:3px 6px}table{border-collapse:collapse;margin-bottom:1em}</style></head>"
             "<body>", f"<h1>Your personal data held by {e(str(pkg['controller']))}</h1>",
             f"<p>Generated {e(pkg['generated_at'])}.</p>"]
    for ref, rows in pkg["your_data"].items():
        parts.append(f"<h2>{e(ref)}</h2>")
        if not rows:
            parts.append("<p>(no rows)</p>")
            continue
        cols = list(rows[0])
        parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td>{e(str(r.get(c, '')))}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>How it is processed</h2><dl>")
    for k, v in pkg["processing"].items():
        parts.append(f"<dt><b>{e(k.replace('_', ' '))}</b></dt><dd>{e(json.dumps(v, default=str))}</dd>")
    parts.append(f"</dl><p>{e(pkg['rights'])}</p></body></html>")
    return "".join(parts)
