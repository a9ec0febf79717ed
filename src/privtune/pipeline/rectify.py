"""Right to rectification (GDPR Art. 16, CPRA right to correct): correct one field of one
person's row in the person table.

``rectify(ws, employee_id, field, value)`` needs ``subject.rectify`` (admin, DPO; no four-eyes:
the correction is audited and reversible by another correction). It writes a new version of
``employees`` with the cell corrected (everyone else's rows as they were; ``meta.rectified_from``
names the old version), indexes the new version's people, and flags every adapter made from a
version of the person table that held the person as needing retraining (and the derived data
sets as stale) in a row-MAC'd ``subject_requests`` row of kind ``rectify``. Nothing is
retrained here: the next ``privtune run`` from ``deidentify`` (or an erasure batch) rebuilds
them from the corrected version. The old version is not shredded (retention or ``vault shred``
does that). The row and the audit events name the field and the refs, never the person or the
value (the person by a keyed hash in the events).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from privtune.errors import InputError, NotFoundError
from privtune.io import read_table, table_bytes
from privtune.lineage.graph import build_graph
from privtune.pipeline.roles import object_mapping, stored_mapping
from privtune.store.models import utcnow
from privtune.store.subject_models import SubjectRequest, ensure_subject_tables
from privtune.workspace import Workspace

PERSON_TABLE = "employees"


@dataclass(frozen=True)
class Rectified:
    request: str
    old: str
    new: str
    retrain: list[str]
    stale: list[str]


def _cast(value: str, column: pa.ChunkedArray, field: str) -> pa.Array:
    try:
        return pc.cast(pa.array([value], type=pa.string()), column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(f"the new value cannot be read as {column.type}", field=field) from None


def rectify(ws: Workspace, employee_id: str, field: str, value: str) -> Rectified:
    """Correct ``field`` of the person's row; flag what was made from the old data."""
    pid = str(employee_id).strip()
    if not pid:
        raise InputError("an employee id is required", field="subject")
    with ws.access.acting_for("subject.rectify", PERSON_TABLE, action="rectify", field=field,
                              subject=ws.access.keyed(pid)) as who:
        old_ref = ws.vault.resolve(PERSON_TABLE)
        if old_ref in ws.vault.shredded():
            raise NotFoundError(f"the newest version of {PERSON_TABLE} ({old_ref}) is shredded")
        table = read_table(ws.vault, old_ref)
        mapping = object_mapping(stored_mapping(ws), PERSON_TABLE, table)
        id_col = mapping.column("employee_id")
        if id_col is None:
            raise NotFoundError("the schema mapping names no employee id column of the person table")
        if field not in table.column_names:
            raise InputError(f"{PERSON_TABLE} has no column '{field[:64]}'", field="field")
        if field == id_col:
            raise InputError("the employee id is not rectified: erase the person and ingest "
                             "the corrected export", field=field)
        ids = [str(v) for v in table.column(id_col).to_pylist()]
        if pid not in ids:
            raise NotFoundError(f"no such employee in {old_ref}")
        row = ids.index(pid)
        new_cell = _cast(value, table.column(field), field)
        cells = table.column(field).to_pylist()
        if cells[row] == new_cell[0].as_py():
            raise InputError("the field already holds that value", field=field)
        cells[row] = new_cell[0].as_py()
        new_table = table.set_column(table.column_names.index(field), table.schema.field(field),
                                     pa.array(cells, type=table.column(field).type))
        old = ws.vault.manifest(old_ref)
        meta = {**(old.meta or {}), "rectified_from": old_ref}
        subjects = ws.subjects()
        held = [r for r in subjects.find(pid).direct if r.split("@")[0] == PERSON_TABLE]
        with ws.vault.transaction():
            new_ref = ws.vault.put(PERSON_TABLE, table_bytes(new_table), kind=old.kind,
                                   schema=old.schema, meta=meta)
            subjects.index(new_ref, ids)
        graph = build_graph(ws.vault)
        manifests = {r.ref: r for r in ws.vault.list()}
        made = sorted({d for ref in held for d in graph.downstream(ref)})
        latest: dict[str, int] = {}
        for r in manifests.values():
            latest[r.name] = max(latest.get(r.name, 0), r.version)
        retrain = [d for d in made if manifests[d].kind == "adapter"
                   and manifests[d].version == latest[manifests[d].name]]
        stale = [d for d in made if manifests[d].kind != "adapter"]
        request = f"rrq-{secrets.token_hex(8)}"
        ensure_subject_tables(ws.store.engine)
        now = utcnow()
        with ws.store.session() as s:
            s.add(SubjectRequest(id=request, kind="rectify", state="done", step="flagged",
                                 requested_by=who.user_id, requested_role=who.role,
                                 requested_at=now, done_at=now,
                                 plan={"field": field, "from": old_ref, "to": new_ref,
                                       "retrain": retrain, "stale": stale}))
    return Rectified(request, old_ref, new_ref, retrain, stale)
