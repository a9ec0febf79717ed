"""``privtune subject find``: everything that holds or was made from one person's data.

The person is given by employee id, or by a name or an e-mail resolved through the person table
in memory (the newest readable version of ``employees``; columns by role, never by name). What
is found is what erasure would reach, by the same code (:mod:`privtune.pipeline.erasure`): the
versions the subject index lists for them, the raw versions that only *mention* them (their name
or e-mail in a colleague's ticket), and everything made from those (lineage downstream):
de-identified data, training sets, adapters, audit reports; then the releases and the privacy
audits of those adapters.

Needs ``subject.lookup`` (admin, data steward, auditor, DPO); the reads it needs are audited
``via=subject.lookup`` (``Guard.acting_for``), the person named in the events by a keyed hash
only. The result holds refs, kinds, release and audit ids: no personal data, and not even the
resolved employee id when the query was a name or an e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from privtune.errors import InputError, NotFoundError
from privtune.gate.registry import entries as release_entries
from privtune.io import read_table
from privtune.lineage.graph import build_graph
from privtune.pii.mapping import TableMapping
from privtune.pipeline.erasure import _mentions, _People
from privtune.pipeline.roles import object_mapping, stored_mapping
from privtune.store.models import Audit
from privtune.workspace import Workspace

PERSON_TABLE = "employees"


@dataclass(frozen=True)
class SubjectFind:
    #: how the person was given: "employee id", "e-mail" or "name"
    query: str
    #: the employees the query matched (a name may match two people)
    people: int
    #: every version: ``{"ref", "kind", "how": holds|mentions|made from, "shredded"}``
    versions: list[dict[str, Any]]
    releases: list[dict[str, Any]]
    audits: list[dict[str, Any]]

    def of_kind(self, *kinds: str) -> list[str]:
        return [v["ref"] for v in self.versions if v["kind"] in kinds]


def _person_tables(ws: Workspace) -> list[str]:
    """Readable versions of the person table, newest first."""
    gone = ws.vault.shredded()
    return [r.ref for r in sorted((r for r in ws.vault.list() if r.name == PERSON_TABLE),
                                  key=lambda r: -r.version) if r.ref not in gone]


def _match(table: pa.Table, mapping: TableMapping, q: str) -> tuple[str, set[str]]:
    id_col = mapping.column("employee_id")
    if id_col is None:
        raise NotFoundError("the schema mapping names no employee id column of the person table")
    low = q.lower()
    ids_by_email, ids_by_name = set(), set()
    for r in table.to_pylist():
        pid = str(r.get(id_col))
        if pid == q:
            return "employee id", {pid}
        if any(str(r.get(c) or "").strip().lower() == low for c in mapping.columns_of("email")):
            ids_by_email.add(pid)
        first, last = mapping.value(r, "first_name"), mapping.value(r, "last_name")
        names = {str(mapping.value(r, "full_name") or "").lower()}
        if first and last:
            names |= {f"{first} {last}".lower(), f"{last}, {first}".lower()}
        if low in names:
            ids_by_name.add(pid)
    if ids_by_email:
        return "e-mail", ids_by_email
    return "name", ids_by_name


def find_subject(ws: Workspace, query: str) -> SubjectFind:
    """Every vault version, adapter, release and audit holding or made from the person's data."""
    q = str(query).strip()
    if not q or len(q) > 200:
        raise InputError("give an employee id, a name or an e-mail", field="subject")
    with ws.access.acting_for("subject.lookup", "", action="find", subject=ws.access.keyed(q)):
        subjects = ws.subjects()
        schema = stored_mapping(ws)
        tables = _person_tables(ws)
        emp = read_table(ws.vault, tables[0]) if tables else None
        mapping = object_mapping(schema, PERSON_TABLE, emp) if emp is not None else None
        hits = subjects.find(q) if "@" not in q and " " not in q else None
        if hits is not None and hits.direct:
            how, ids = "employee id", {q}
        elif emp is not None and mapping is not None:
            how, ids = _match(emp, mapping, q)
        else:
            how, ids = "employee id", set()
        if not ids:
            raise NotFoundError("no employee matches the query (subject index and the newest "
                                "readable person table searched)")
        direct: set[str] = set()
        found: set[str] = set()
        for pid in sorted(ids):
            h = hits if hits is not None and how == "employee id" else subjects.find(pid)
            direct.update(h.direct)
            found.update(h.all)
        mentions: set[str] = set()
        if emp is not None and mapping is not None:
            rows, roles = _People.rows_of(emp, ids, mapping)
            if rows:
                mentions = _mentions(ws, _People.of(rows, ids, roles), direct)
        graph = build_graph(ws.vault)
        for ref in mentions:
            found.add(ref)
            found.update(graph.downstream(ref))
        manifests = {r.ref: r for r in ws.vault.list()}
        gone = ws.vault.shredded()
    versions = [{"ref": ref, "kind": manifests[ref].kind if ref in manifests else "?",
                 "how": ("holds" if ref in direct else "mentions" if ref in mentions
                         else "made from"), "shredded": ref in gone}
                for ref in sorted(found, key=lambda r: (r.split("@")[0], int(r.split("@")[1])))]
    adapters = {v["ref"] for v in versions if v["kind"] == "adapter"}
    releases = [{"release": e.id, "model": e.model_ref, "state": e.state}
                for e in release_entries(ws.store) if e.model_ref in adapters]
    with ws.store.session() as s:
        audits = [{"audit": a.id, "model": a.model_ref, "passed": a.passed}
                  for a in s.scalars(select(Audit).where(Audit.model_ref.in_(sorted(adapters))))]
    return SubjectFind(how, len(ids), versions, releases, audits)
