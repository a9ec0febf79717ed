"""The subject index: which vault objects hold data about which employee, by keyed pseudonym.

Only ``HMAC-SHA256(subject key, employee id)`` is stored (table ``subject_index``), with the
subject key derived from the workspace secret (``keys/workspace.key``); the raw id is never
stored, and without the key the index cannot be searched by id. Ingest indexes the raw tables
and texts; ``find_subject`` returns those objects plus everything derived from them
(de-identified versions, training sets, adapters, reports), i.e. every artefact whose inputs
included that employee. Derived training sets are included whole (a validation split that
left the employee out is still listed): an over-approximation, never a miss.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from privtune.vault.wskeys import keyed_hash, subkey
from privtune.errors import InputError
from privtune.lineage.graph import build_graph
from privtune.store.audit_models import SubjectIndex

if TYPE_CHECKING:
    from privtune.workspace import Workspace

LABEL = "subject-index"


def _key(ws: Workspace) -> bytes:
    return subkey(ws.root, LABEL)


def subject_hash(ws: Workspace, employee_id: str) -> str:
    return keyed_hash(_key(ws), str(employee_id).strip())


def index_subjects(ws: Workspace, ref: str, employee_ids: Iterable[object]) -> int:
    """Record that ``ref`` holds data on these employees; returns the number indexed."""
    key = _key(ws)
    hashes = {keyed_hash(key, str(e).strip()) for e in employee_ids if e is not None and str(e).strip()}
    resolved = ws.vault.resolve(ref)
    ws.guard("subject.index", resolved, subjects=len(hashes))
    with ws.store.session() as s:
        existing = set(s.scalars(select(SubjectIndex.subject).where(SubjectIndex.object_ref == resolved)))
        s.add_all(SubjectIndex(subject=h, object_ref=resolved) for h in sorted(hashes - existing))
    return len(hashes)


@dataclass
class SubjectHits:
    direct: list[str]     # objects indexed as holding the employee's data
    derived: list[str]    # objects made (transitively) from those

    @property
    def all(self) -> list[str]:
        return self.direct + [r for r in self.derived if r not in self.direct]


def find_subject(ws: Workspace, employee_id: str) -> SubjectHits:
    if not str(employee_id).strip():
        raise InputError("an employee id is required", field="subject")
    h = subject_hash(ws, employee_id)
    # The audit event names the subject by a keyed hash under the *audit* key only.
    ws.guard("subject.lookup", "", subject=ws.access.keyed(str(employee_id).strip()))
    with ws.store.session() as s:
        direct = sorted(s.scalars(select(SubjectIndex.object_ref).where(SubjectIndex.subject == h)))
    if not direct:
        return SubjectHits([], [])
    g = build_graph(ws)
    derived: dict[str, None] = {}
    for ref in direct:
        for d in g.downstream(ref):
            if d not in direct:
                derived[d] = None
    return SubjectHits(direct, sorted(derived))
