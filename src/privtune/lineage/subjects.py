"""The subject index: which vault objects hold data about which employee, by keyed pseudonym.

Only ``HMAC-SHA256(subject key, employee id)`` is stored (table ``subject_index``), with the
subject key derived from the workspace secret (``keys/workspace.key``, wrapped by the KEK); the raw id is never
stored, and without the key the index cannot be searched by id. Ingest indexes the raw tables
and texts; ``Subjects.find`` returns those objects plus everything derived from them
(de-identified versions, training sets, adapters, reports), i.e. every artefact whose inputs
included that employee. Derived training sets are included whole (a validation split that
left the employee out is still listed): an over-approximation, never a miss.

``Subjects`` takes the parts it needs (store, vault, the guard's ``check`` and ``keyed``, the
subject key); ``Workspace.subjects()`` hands one out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from privtune.audit.api import Check
from privtune.errors import InputError
from privtune.lineage.graph import build_graph
from privtune.store import MetadataStore
from privtune.store.audit_models import SubjectIndex
from privtune.vault import Vault
from privtune.vault.wskeys import keyed_hash

LABEL = "subject-index"


def subject_key(subkey: Callable[[str], bytes]) -> bytes:
    """The subject-index key, derived from the workspace secret (``WorkspaceKeys.subkey``, which
    needs the unlocked KEK: the secret is stored wrapped)."""
    return subkey(LABEL)


@dataclass
class SubjectHits:
    direct: list[str]     # objects indexed as holding the employee's data
    derived: list[str]    # objects made (transitively) from those

    @property
    def all(self) -> list[str]:
        return self.direct + [r for r in self.derived if r not in self.direct]


@dataclass(frozen=True)
class Subjects:
    """The subject index of one store and vault; every call checked and audited by ``check``.

    ``keyed`` hashes an identifier under the *audit* key (``Guard.keyed``), for the event that
    names the subject looked up; ``key`` is the subject-index key (``subject_key``).
    """

    store: MetadataStore
    vault: Vault
    check: Check
    keyed: Callable[[str], str]
    key: bytes

    def subject_hash(self, employee_id: str) -> str:
        return keyed_hash(self.key, str(employee_id).strip())

    def index(self, ref: str, employee_ids: Iterable[object]) -> int:
        """Record that ``ref`` holds data on these employees; returns the number indexed.

        For a version put in an open :meth:`Vault.transaction` the index rows commit with it.
        """
        hashes = {keyed_hash(self.key, str(e).strip()) for e in employee_ids
                  if e is not None and str(e).strip()}
        pending = self.vault.pending_ref(ref)
        resolved = pending or self.vault.resolve(ref)
        self.check("subject.index", resolved, subjects=len(hashes))
        if pending is not None:  # a version of an open vault transaction: commit with it
            self.vault.defer([SubjectIndex(subject=h, object_ref=resolved) for h in sorted(hashes)])
            return len(hashes)
        with self.store.session() as s:
            existing = set(s.scalars(select(SubjectIndex.subject)
                                     .where(SubjectIndex.object_ref == resolved)))
            s.add_all(SubjectIndex(subject=h, object_ref=resolved) for h in sorted(hashes - existing))
        return len(hashes)

    def forget(self, refs: Iterable[str]) -> int:
        """Drop every index row of these object versions (crypto-shredded ones: nothing can be
        read from them, and their rows would keep the keyed pseudonyms of their people)."""
        wanted = sorted(set(refs))
        self.check("subject.index", "", action="forget", objects=len(wanted))
        if not wanted:
            return 0
        with self.store.session() as s:
            rows = list(s.scalars(select(SubjectIndex).where(SubjectIndex.object_ref.in_(wanted))))
            for row in rows:
                s.delete(row)
        return len(rows)

    def find(self, employee_id: str) -> SubjectHits:
        if not str(employee_id).strip():
            raise InputError("an employee id is required", field="subject")
        h = self.subject_hash(employee_id)
        # The audit event names the subject by a keyed hash under the *audit* key only.
        self.check("subject.lookup", "", subject=self.keyed(str(employee_id).strip()))
        with self.store.session() as s:
            direct = sorted(s.scalars(select(SubjectIndex.object_ref)
                                      .where(SubjectIndex.subject == h)))
        if not direct:
            return SubjectHits([], [])
        g = build_graph(self.vault)
        derived: dict[str, None] = {}
        for ref in direct:
            for d in g.downstream(ref):
                if d not in direct:
                    derived[d] = None
        return SubjectHits(direct, sorted(derived))
