"""Right to erasure (GDPR Art. 17, CCPA delete) that reaches the model.

A request is filed (``subject.erase``), approved by someone else (``subject.approve``; the
workspace's ``erasure_approval``: another user, another role, or none), then carried out by
:func:`run_erasures`, which takes every approved request into one *batch* (one retrain for all
of them) and walks it through these steps, recording each in the requests' rows:

1. ``find``: the subject index and lineage: every vault version that holds or was made from
   the people (all versions, every export), and every raw version whose content holds one of
   their identifiers although the index (which lists authors) does not name it (a mention in a
   colleague's ticket); refs only are kept in the row's ``plan``. Columns are found by role in
   the stored schema mapping (:mod:`privtune.pipeline.roles`), never by name.
2. ``rewrite``: a new version of every ingested table and text set that held them, without
   them: their rows and records dropped, cells that equal one of their identifiers emptied,
   and their names, e-mails, ids, phone numbers and other identifiers redacted (``[ERASED]``)
   from the texts of everyone else. One vault transaction; the subject index gets the new
   versions' remaining people.
3. ``derive``: the de-identified data and the training set are rebuilt from the new versions
   (the pipeline's own stages).
4. ``revoke``: every release of an adapter made from them is revoked (superseded by erasure).
5. ``shred``: every version found in step 1 is crypto-shredded (data key destroyed, file
   deleted); its subject-index rows are dropped. Everyone else's data was carried over first.
   The same versions are shredded in every backup repository ``backup create`` recorded
   (:func:`privtune.pipeline.backups.shred_in_recorded_backups`, which retention uses too);
   one it cannot open is listed as pending in the certificate (``privtune backup shred-sync``
   reaches it later).
6. ``retrain``: every adapter trained on them is retrained from its recorded recipe (its
   recorded train spec, on the same base model, checked by hash) on the new training set, charged
   to the people's privacy budget by the ledger like any run, and audited afresh. Exact
   unlearning: the base model never saw HR data. The fresh audit gets the erased people as
   outsiders (their own examples, kept in the batch's object until the end): it reports, per
   person by request id, that the new training set and lineage do not hold them and where
   their membership score falls among the held-out employees'. Release is a separate act
   (``privtune release``).
7. ``certify``: a signed certificate (``reports/erasure/<batch>.json``) naming the requests by id
   only: what was found, rewritten, shredded, revoked and retrained, and the checks run. Then the
   request-to-person mapping (``subject-request-<id>``) is shredded and the requests are done.

Each step is idempotent and the requests' rows say which step finished last, so a process
killed between (or inside) steps leaves a consistent workspace and a rerun completes the batch.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from privtune.attacks.mia import Outsider
from privtune.dp import ledger
from privtune.errors import (
    InputError,
    IntegrityError,
    KeyDestroyed,
    NotFoundError,
    PermissionDenied,
    PrivacyPolicyError,
)
from privtune.fsutil import atomic_write_text, private_dir
from privtune.gate.adapters import ADAPTER_SCHEMA
from privtune.gate.registry import change_state, entry_for
from privtune.io import jsonl_bytes, read_jsonl, read_table, table_bytes
from privtune.lineage.graph import build_graph
from privtune.pii import Roster
from privtune.pii.mapping import ColumnRole, TableMapping, mapping_for_table, rows_table
from privtune.pipeline.audit import audit_stage
from privtune.pipeline.backups import shred_in_recorded_backups
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.roles import IDENTIFYING_ROLES, OWN_NAME_ROLES, object_mapping, stored_mapping
from privtune.pipeline.run import run_stages
from privtune.pipeline.site import gate_site
from privtune.records import AdapterRecord
from privtune.store.models import utcnow
from privtune.store.subject_models import SubjectRequest, ensure_subject_tables
from privtune.train.spec import TrainSpec
from privtune.vault.wskeys import fingerprint
from privtune.workspace import Workspace

REQUEST_PREFIX = "subject-request-"
CERT_SCHEMA = "privtune-erasure-certificate/1"
CERT_DIR = "erasure"
REDACTED = "[ERASED]"
STEPS = ("find", "rewrite", "derive", "revoke", "shred", "retrain", "certify")
_REQ_RE = re.compile(r"erq-[0-9a-f]{16}")

#: ``after_step(step)``: called after each step is recorded (tests inject crashes here).
StepHook = Callable[[str], None]


@dataclass(frozen=True)
class FiledRequest:
    id: str
    state: str


@dataclass
class ErasureResult:
    batch: str
    requests: list[str]
    certificate: Path
    found: int
    shredded: int
    retrained: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: ``{"repo", "keys_removed"}`` of every backup repository the shred reached
    backups_shredded: list[dict[str, Any]] = field(default_factory=list)
    #: ``{"repo", "reason", "action"}`` of every recorded repository it could not open
    backups_pending: list[dict[str, Any]] = field(default_factory=list)


def _new_request_id() -> str:
    return f"erq-{secrets.token_hex(8)}"


def _check_request_id(request_id: str) -> str:
    if not _REQ_RE.fullmatch(request_id):
        raise InputError("a request id looks like erq-<16 hex digits>", field="request")
    return request_id


def _row(s: Any, request_id: str) -> SubjectRequest:
    row = s.get(SubjectRequest, _check_request_id(request_id))
    if row is None:
        raise NotFoundError(f"no subject request {request_id}")
    return row


# ------------------------------------------------------------------ filing and approval
def file_erasure(ws: Workspace, subject_id: str) -> FiledRequest:
    """Queue an erasure request for one employee id (``subject.erase``). The row names the
    request by a random id only; the id -> person mapping is the vault object
    ``subject-request-<id>`` (shredded when the request completes). Refused when no object holds
    data on the person. With ``erasure_approval: none`` the request is approved at once."""
    subject_id = str(subject_id).strip()
    if not subject_id or len(subject_id) > 128 or not subject_id.isprintable():
        raise InputError("an employee id is required (one printable line)", field="subject")
    request_id = _new_request_id()
    ensure_subject_tables(ws.store.engine)
    with ws.access.acting_for("subject.erase", request_id, action="file") as who:
        hits = ws.subjects().find(subject_id)
        if not hits.direct:
            raise NotFoundError("no vault object holds data on this subject; nothing to erase")
        mapping = json.dumps({"request": request_id, "subjects": [subject_id]}).encode()
        ref = ws.vault.put(REQUEST_PREFIX + request_id[4:], mapping, kind="blob",
                           schema="subject-request-json")
    auto = ws.config.erasure_approval == "none"
    now = utcnow()
    with ws.store.session() as s:
        s.add(SubjectRequest(id=request_id, kind="erase", state="approved" if auto else "queued",
                             requested_by=who.user_id, requested_role=who.role, requested_at=now,
                             approved_by="(none required)" if auto else "",
                             approved_at=now if auto else None, plan={"mapping": ref}))
    return FiledRequest(request_id, "approved" if auto else "queued")


def approve_erasure(ws: Workspace, request_id: str) -> FiledRequest:
    """Approve a queued request (``subject.approve``): four-eyes, the approver must be another
    user than the requester (and of another role with ``erasure_approval: other-role``)."""
    _check_request_id(request_id)
    ensure_subject_tables(ws.store.engine)
    who = ws.access.check("subject.approve", request_id, action="approve")
    with ws.store.session() as s:
        row = _row(s, request_id)
        if row.state != "queued":
            raise PrivacyPolicyError(f"request {request_id} is {row.state}, not queued")
        if row.requested_by == who.user_id:
            ws.access.log.append(actor=who.user_id, role=who.role, key_id=who.key_id,
                                 op="subject.approve", object=request_id, outcome="deny",
                                 reason="four-eyes: the requester may not approve")
            raise PermissionDenied("permission denied: four-eyes: a request is approved by "
                                   "another user than the one who filed it")
        if ws.config.erasure_approval == "other-role" and row.requested_role == who.role:
            ws.access.log.append(actor=who.user_id, role=who.role, key_id=who.key_id,
                                 op="subject.approve", object=request_id, outcome="deny",
                                 reason="four-eyes: approval needs another role")
            raise PermissionDenied(f"permission denied: four-eyes: this workspace needs approval "
                                   f"by a role other than {row.requested_role}")
        row.state, row.approved_by, row.approved_role = "approved", who.user_id, who.role
        row.approved_at = utcnow()
    return FiledRequest(request_id, "approved")


def list_requests(ws: Workspace) -> list[SubjectRequest]:
    """Every subject request (``metadata.read``): ids, states, steps, who; never the person."""
    ws.access.check("metadata.read", "subject-requests", action="list")
    ensure_subject_tables(ws.store.engine)
    with ws.store.session() as s:
        return list(s.scalars(select(SubjectRequest).order_by(SubjectRequest.requested_at)))


# ------------------------------------------------------------------ budget
@dataclass(frozen=True)
class Capacity:
    adapter: str
    epsilon_per_retrain: float | None   # None: trained without DP
    left: float
    budget: float
    retrains_left: int | None           # None: unbounded (no DP: never releasable)


def erasure_capacity(ws: Workspace) -> list[Capacity]:
    """How many more erasure batches (each one retrain of every adapter) the privacy budget of
    each adapter's source exports allows (``metadata.read``). Queue several requests and run
    them as one batch to spend one retrain on all of them."""
    ws.access.check("metadata.read", "subject-requests", action="capacity")
    latest: dict[str, Any] = {}
    for row in ws.vault.list():
        if row.schema == ADAPTER_SCHEMA and row.ref not in ws.vault.shredded():
            latest[row.name] = row
    out = []
    for name, row in sorted(latest.items()):
        rec = AdapterRecord.from_dict(dict(row.meta or {}))
        eps = rec.epsilon
        try:
            standing = ledger.spent(ws.access.check, ws.store, rec.train_data,
                                    ws.config.dp_budget_epsilon)
        except (NotFoundError, InputError):
            continue
        left = min(st.left for st in standing) if standing else 0.0
        budget = min(st.budget for st in standing) if standing else 0.0
        n = None if not eps else math.floor((left + 1e-9) / eps)
        out.append(Capacity(name, eps, left, budget, n))
    return out


# ------------------------------------------------------------------ rewriting
@dataclass
class _People:
    """The erased people's identifiers, in memory only."""

    ids: set[str]
    literals: list[str]   # exact values to redact (case-insensitive)
    names: list[tuple[str, str]]
    roster: Roster

    @staticmethod
    def rows_of(employees: pa.Table, ids: set[str], mapping: TableMapping
                ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The erased people's identifying cells (what ``of`` needs) from the person table, and
        those columns' roles (the columns are the export's own, found by role)."""
        id_col = mapping.column("employee_id")
        if id_col is None:
            raise IntegrityError("the schema mapping names no employee id column of the "
                                 "employees table; set `role: employee_id` and ingest again")
        keep = mapping.columns_of(*IDENTIFYING_ROLES, *OWN_NAME_ROLES)
        rows = [{k: (None if r.get(k) is None else str(r[k])) for k in keep}
                for r in employees.to_pylist() if str(r.get(id_col)) in ids]
        return rows, {k: str(mapping.role(k)) for k in keep}

    @classmethod
    def of(cls, rows: list[dict[str, Any]], ids: set[str], roles: dict[str, str] | None = None
           ) -> _People:
        """``roles``: ``{column: role}`` of the rows' columns (inferred when not given)."""
        mapping = (TableMapping(columns={c: ColumnRole(role=r) for c, r in roles.items()})
                   if roles else mapping_for_table(rows_table(rows)))
        literals: set[str] = set(ids)
        names = []
        for r in rows:
            for col in mapping.columns_of(*IDENTIFYING_ROLES):
                v = r.get(col)
                if v is not None and len(str(v).strip()) >= 4:
                    literals.add(str(v).strip())
            first, last = mapping.value(r, "first_name"), mapping.value(r, "last_name")
            full = mapping.value(r, "full_name")
            if full and len(full) >= 4:
                literals.add(full)
                parts = full.split()
                if not (first and last) and len(parts) >= 2:
                    first, last = parts[0], parts[-1]
            if first and last:
                names.append((first, last))
                literals.update({f"{first} {last}", f"{last}, {first}"})
        own = [c for c in mapping.columns if not str(mapping.role(c)).startswith("emergency_")]
        roster = Roster.from_employees([{k: r.get(k) for k in own} for r in rows],
                                       mapping.restricted(own)) if rows else Roster()
        return cls(ids, sorted(literals, key=len, reverse=True), names, roster)

    def redact(self, text: str) -> str:
        for lit in self.literals:
            text = re.sub(re.escape(lit), REDACTED, text, flags=re.IGNORECASE)
        spans = sorted(self.roster.find(text) + self.roster.find_known(text),
                       key=lambda sp: sp.start, reverse=True)
        last = len(text) + 1
        for sp in spans:
            if sp.end <= last:
                text = text[:sp.start] + REDACTED + text[sp.end:]
                last = sp.start
        return text

    def cell(self, value: Any) -> Any:
        """A table cell of someone else's row: emptied when it *is* one of their identifiers."""
        if isinstance(value, str):
            v = value.strip().lower()
            if any(v == lit.lower() for lit in self.literals):
                return None
        return value

    def holds(self, data: bytes) -> list[str]:
        """Which kinds of identifier of theirs appear in ``data`` (for the certificate's check:
        labels only, never values)."""
        low = data.decode("utf-8", "replace").lower()
        found = []
        if any(i.lower() in low for i in self.ids):
            found.append("employee id")
        if any(lit.lower() in low for lit in self.literals if lit not in self.ids):
            found.append("identifier")
        return found


def _mentions(ws: Workspace, people: _People, direct: set[str]) -> set[str]:
    """Every readable raw version (no parents) of a table or text set erasure can rewrite that
    holds one of the people's identifiers although the subject index does not list it."""
    gone = ws.vault.shredded()
    out = set()
    for row in ws.vault.list():
        if row.ref in gone or row.ref in direct or row.parents or not (
                row.kind == "table" or (row.kind == "texts" and row.schema == "jsonl")):
            continue
        data = (json.dumps(read_table(ws.vault, row.ref).to_pylist(), default=str).encode()
                if row.kind == "table" else ws.vault.get(row.ref))  # parquet pages: compressed
        if people.holds(data):
            out.add(row.ref)
    return out


def _theirs(row: dict[str, Any], id_col: str | None, people: _People) -> bool:
    return id_col is not None and str(row.get(id_col)) in people.ids


def _rewrite_table(table: pa.Table, people: _People, mapping: TableMapping
                   ) -> tuple[pa.Table, int]:
    """Their rows dropped (the table's own id column, by role), cells that are one of their
    identifiers emptied."""
    id_col = mapping.column("employee_id")
    rows = table.to_pylist()
    kept = [{k: people.cell(v) for k, v in r.items()} for r in rows
            if not _theirs(r, id_col, people)]
    return pa.Table.from_pylist(kept, schema=table.schema), len(rows) - len(kept)


def _rewrite_texts(records: list[dict[str, Any]], people: _People, mapping: TableMapping
                   ) -> tuple[list[dict[str, Any]], int]:
    """Their records dropped (the records' own author field, by role); their identifiers
    redacted from everyone else's fields (a record id is kept as it is)."""
    id_col = mapping.column("employee_id")
    record_ids = set(mapping.columns_of("record_id"))
    out = []
    for r in records:
        if _theirs(r, id_col, people):
            continue
        rec: dict[str, Any] = {}
        for k, v in r.items():
            v = people.cell(v)
            rec[k] = people.redact(v) if isinstance(v, str) and k not in record_ids else v
        out.append(rec)
    return out, len(records) - len(out)


def _ids_in(rows: list[dict[str, Any]], mapping: TableMapping) -> list[Any]:
    """The subject-index entries of rewritten rows: each row's id by role (None without one)."""
    id_col = mapping.column("employee_id")
    return [r.get(id_col) if id_col is not None else None for r in rows]


# ------------------------------------------------------------------ the run
def _save(ws: Workspace, ids: list[str], **changes: Any) -> None:
    with ws.store.session() as s:
        for rid in ids:
            row = _row(s, rid)
            for k, v in changes.items():
                setattr(row, k, v)


def _plan(ws: Workspace, rid: str) -> dict[str, Any]:
    with ws.store.session() as s:
        return dict(_row(s, rid).plan or {})


def _set_plan(ws: Workspace, ids: list[str], plan: dict[str, Any], step: str) -> None:
    with ws.store.session() as s:
        for rid in ids:
            row = _row(s, rid)
            row.plan = {**plan, "mapping": (row.plan or {}).get("mapping", "")}
            row.step = step


def _batch(ws: Workspace) -> tuple[str, list[str]]:
    """The running batch (resumed), else every approved request in a new batch."""
    with ws.store.session() as s:
        running = list(s.scalars(select(SubjectRequest).where(SubjectRequest.state == "running")))
        if running:
            batch = running[0].batch
            return batch, sorted(r.id for r in running if r.batch == batch)
        approved = list(s.scalars(select(SubjectRequest).where(SubjectRequest.state == "approved")))
        if not approved:
            return "", []
        batch = f"erb-{utcnow().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        for r in approved:
            r.state, r.batch, r.step = "running", batch, ""
        return batch, sorted(r.id for r in approved)


def _labels(ws: Workspace, ids: list[str]) -> dict[str, str]:
    """``{employee id: label}``: each erased person is named by their request's id (with
    ``/n`` when a request names several), never by name or pseudonym, in audits and the
    certificate."""
    out: dict[str, str] = {}
    for rid in ids:
        doc = json.loads(ws.vault.get(_plan(ws, rid).get("mapping", "")))
        subjects = [str(x) for x in doc["subjects"]]
        for n, pid in enumerate(subjects, 1):
            out.setdefault(pid, rid if len(subjects) == 1 else f"{rid}/{n}")
    return out


def _their_examples(ws: Workspace, adapters: list[str], labels: dict[str, str]
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """By label, each erased person's pseudonym and own examples (first of ``employee_ids``) in
    the training and validation sets the adapters were made from (``{"tokens", "examples"}``);
    and, per adapter version, the labels of those who were in its training set."""
    if not adapters:
        return {}, {}
    from privtune.deid.keys import KeyedHash
    from privtune.deid.operators.pseudonymize import pseudonym

    try:
        keyed = KeyedHash(ws.pseudonym_key())
    except NotFoundError:
        return {}, {}
    label_of = {pseudonym(keyed, pid): label for pid, label in labels.items()}
    outsiders: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in labels.values()}
    was_member: dict[str, list[str]] = {}
    read: dict[str, list[dict[str, Any]]] = {}
    for ref in adapters:
        rec = AdapterRecord.from_dict(dict(ws.vault.manifest(ref).meta or {}))
        members: set[str] = set()
        for data, is_train in ((rec.train_data, True), (rec.val_data, False)):
            if data not in read:
                read[data] = read_jsonl(ws.vault, data)
            for ex in read[data]:
                for n, e in enumerate(ex.get("employee_ids") or []):
                    label = label_of.get(str(e))
                    if label is None:
                        continue
                    if is_train:
                        members.add(label)
                    if n == 0:
                        outsiders.setdefault(label, {})[str(ex.get("id"))] = ex
        was_member[ref] = sorted(members)
    tokens: dict[str, list[str]] = {}
    for tok, label in label_of.items():
        tokens.setdefault(label, []).append(tok)
    return ({label: {"tokens": sorted(tokens[label]), "examples": list(exs.values())}
             for label, exs in outsiders.items()}, was_member)


def _subjects_of(ws: Workspace, ids: list[str]) -> set[str]:
    people: set[str] = set()
    for rid in ids:
        mapping = _plan(ws, rid).get("mapping", "")
        doc = json.loads(ws.vault.get(mapping))
        if doc.get("request") != rid:
            raise IntegrityError(f"the mapping object of request {rid} names another request")
        people.update(str(x) for x in doc["subjects"])
    return people


def run_erasures(ws: Workspace, cfg: PipelineConfig, *, after_step: StepHook | None = None
                 ) -> ErasureResult | None:
    """Carry out every approved erasure request as one batch, or resume the running batch;
    None when there is none. The caller needs ``subject.erase``; the reads, writes, shreds,
    retraining and revocations are audited under it (``Guard.acting_for``)."""
    import time

    ensure_subject_tables(ws.store.engine)
    with ws.access.acting_for("subject.erase", "subject-requests", action="run"):
        batch, ids = _batch(ws)
        if not ids:
            return None
        done = _plan(ws, ids[0]).get("steps_done", [])
        plan = _plan(ws, ids[0])
        plan.setdefault("batch", batch)
        plan.setdefault("seconds", {})
        schema = stored_mapping(ws)
        subjects = ws.subjects()

        def finish(step: str, t0: float) -> None:
            plan["seconds"][step] = round(plan["seconds"].get(step, 0.0) + time.perf_counter() - t0, 3)
            plan["steps_done"] = [*plan.get("steps_done", []), step]
            _set_plan(ws, ids, plan, step)
            if after_step is not None:
                after_step(step)

        people: _People | None = None
        batch_obj = REQUEST_PREFIX + batch

        def load_people() -> _People:
            """From the batch's own vault object (the person table's versions are shredded
            midway; this object is shredded with the mappings at the end)."""
            nonlocal people
            if people is None:
                doc = json.loads(ws.vault.get(plan["people"]))
                people = _People.of(doc["rows"], set(doc["ids"]), doc.get("roles"))
            return people

        if "find" not in done:
            t0 = time.perf_counter()
            people_ids = _subjects_of(ws, ids)
            found: set[str] = set()
            direct: set[str] = set()
            for pid in sorted(people_ids):
                hits = subjects.find(pid)
                direct.update(hits.direct)
                found.update(hits.all)
            manifests = {r.ref: r for r in ws.vault.list()}
            # the newest version of the person table that held them gives their identifiers
            emp = sorted((r for r in direct if r.split("@")[0] == "employees"),
                         key=lambda r: int(r.split("@")[1]))
            if not emp:
                raise NotFoundError("the subjects are in no version of the employees table")
            emp_table = read_table(ws.vault, emp[-1])
            rows, roles = _People.rows_of(emp_table, people_ids,
                                          object_mapping(schema, "employees", emp_table))
            # versions that only *mention* them (their name in someone else's ticket) are not
            # in the subject index, which lists authors: found by their identifiers
            mentions = _mentions(ws, _People.of(rows, people_ids, roles), direct)
            direct.update(mentions)
            graph = build_graph(ws.vault)
            found.update(mentions)
            found.update(d for ref in mentions for d in graph.downstream(ref))
            adapters = sorted(r for r in found if manifests[r].schema == ADAPTER_SCHEMA)
            # their own training examples, kept (in this object only) until the retrained
            # adapters' audits have placed them among the held-out employees
            outsiders, was_member = _their_examples(ws, adapters, _labels(ws, ids))
            people_ref = ws.vault.put(batch_obj, json.dumps({
                "batch": batch, "ids": sorted(people_ids), "rows": rows, "roles": roles,
                "outsiders": outsiders, "was_member": was_member}).encode(),
                kind="blob", schema="subject-request-json")
            plan.update(found=sorted(found), direct=sorted(direct), people=people_ref,
                        adapters=adapters)
            finish("find", t0)

        if "rewrite" not in plan.get("steps_done", []):
            t0 = time.perf_counter()
            p = load_people()
            direct = set(plan["direct"])
            rewritten: dict[str, Any] = {}
            roots = sorted({r.split("@")[0] for r in direct
                            if not (ws.vault.manifest(r).parents or [])})
            with ws.vault.transaction():
                for name in roots:
                    latest = ws.vault.manifest(name)
                    if (latest.meta or {}).get("erasure_batch") == batch:
                        rewritten[name] = {"to": latest.ref}
                        continue  # written by this batch before a crash
                    if latest.ref not in direct:
                        continue  # the newest version does not hold them
                    meta = {k: v for k, v in (latest.meta or {}).items()}
                    if latest.kind == "table":
                        old_table = read_table(ws.vault, latest.ref)
                        cols = object_mapping(schema, name, old_table)
                        table, removed = _rewrite_table(old_table, p, cols)
                        data, keep_ids = table_bytes(table), _ids_in(table.to_pylist(), cols)
                        meta["rows"] = table.num_rows
                    elif latest.kind == "texts" and latest.schema == "jsonl":
                        old_records = read_jsonl(ws.vault, latest.ref)
                        cols = object_mapping(schema, name, old_records)
                        records, removed = _rewrite_texts(old_records, p, cols)
                        data, keep_ids = jsonl_bytes(records), _ids_in(records, cols)
                        meta["rows"] = len(records)
                    else:
                        raise IntegrityError(f"'{latest.ref}' holds the subjects but is a "
                                             f"{latest.kind} ({latest.schema}) erasure cannot "
                                             "rewrite")
                    meta.update(erasure_batch=batch, rewritten_from=latest.ref)
                    ref = ws.vault.put(name, data, kind=latest.kind, schema=latest.schema, meta=meta)
                    subjects.index(ref, keep_ids)
                    rewritten[name] = {"from": latest.ref, "to": ref, "removed": removed}
            plan["rewritten"] = rewritten
            finish("rewrite", t0)

        if "derive" not in plan.get("steps_done", []):
            t0 = time.perf_counter()
            plan["derived"] = _derive(ws, cfg, {r.split("@")[0] for r in plan["found"]},
                                      plan["found"])
            finish("derive", t0)

        if "revoke" not in plan.get("steps_done", []):
            t0 = time.perf_counter()
            revoked = []
            site = gate_site(ws)
            for ref in plan["adapters"]:
                row = entry_for(ws.store, ref)
                if row is not None and row.state in ("released", "quarantined"):
                    change_state(site, ref, "revoked", f"superseded by erasure {batch}")
                    revoked.append(row.id)
            plan["revoked"] = revoked
            finish("revoke", t0)

        if "shred" not in plan.get("steps_done", []):
            t0 = time.perf_counter()
            gone = ws.vault.shredded()
            for ref in plan["found"]:
                if ref not in gone:
                    ws.vault.shred(ref)
            subjects.forget(plan["found"])
            plan["shredded"] = len(plan["found"])
            # the same versions in every backup this workspace has written (and the request
            # mappings and the batch's identifiers, shredded in the vault at the end)
            mappings = [_plan(ws, rid).get("mapping", "") for rid in ids]
            plan["backups"] = shred_in_recorded_backups(
                ws, [*plan["found"], plan["people"], *(m for m in mappings if m)])
            finish("shred", t0)

        if "retrain" not in plan.get("steps_done", []):
            t0 = time.perf_counter()
            retrained: dict[str, Any] = plan.get("retrained", {})
            by_name: dict[str, str] = {}
            for ref in plan["adapters"]:
                name = ref.split("@")[0]
                if name not in by_name or int(ref.split("@")[1]) > int(by_name[name].split("@")[1]):
                    by_name[name] = ref
            doc = json.loads(ws.vault.get(plan["people"]))
            for name, old in sorted(by_name.items()):
                if name in retrained:
                    continue  # done before a crash
                retrained[name] = _retrain(ws, cfg, old, name, doc.get("outsiders") or {},
                                           (doc.get("was_member") or {}).get(old, []),
                                           set(plan["found"]))
                plan["retrained"] = retrained
                _set_plan(ws, ids, plan, "retrain")
            plan["retrained"] = retrained
            finish("retrain", t0)

        if "certify" not in plan.get("steps_done", []):
            t0 = time.perf_counter()
            cert_path = _certify(ws, batch, ids, plan, load_people())
            plan["certificate"] = str(cert_path.relative_to(ws.root))
            finish("certify", t0)
        cert_path = ws.root / plan["certificate"]
        # the request -> person mappings and the batch's identifiers: shredded last
        # (every version: a crash inside ``find`` may have left an earlier one)
        gone = ws.vault.shredded()
        names = {REQUEST_PREFIX + rid[4:] for rid in ids} | {batch_obj}
        for version in ws.vault.list():
            if version.name in names and version.ref not in gone:
                ws.vault.shred(version.ref)
        _save(ws, ids, state="done", done_at=utcnow())
    return ErasureResult(batch, ids, cert_path, len(plan["found"]), plan["shredded"],
                         plan.get("retrained", {}), plan["seconds"],
                         plan.get("backups", {}).get("shredded", []),
                         plan.get("backups", {}).get("pending", []))


def _derive(ws: Workspace, cfg: PipelineConfig, names: set[str], found: list[str]
            ) -> dict[str, str]:
    """Rebuild the de-identified data and the training set from the newest raw versions, with
    the recorded recipe: the de-identification policy stored in the vault (``deid-policy``) and
    the split fraction and seed recorded with the training set that held the people."""
    from privtune.deid.policy import parse_policy
    from privtune.pipeline.dataset import build_dataset
    from privtune.pipeline.deid import POLICIES, TABLES, TEXT_SETS, deidentify
    from privtune.pipeline.run import RAW_OBJECTS

    out: dict[str, str] = {}
    if not any(n.endswith("-deid") for n in names):
        return out
    raw = {n: ws.vault.resolve(n) for n in RAW_OBJECTS if ws.vault.exists(n)}
    policy = (parse_policy(_policy_doc(json.loads(ws.vault.get("deid-policy"))),
                           source="deid-policy") if ws.vault.exists("deid-policy") else None)
    deid = deidentify(ws, raw, policy)
    out.update(deid.outputs)
    train_refs = sorted((r for r in found if r.split("@")[0] == "trainset"),
                        key=lambda r: int(r.split("@")[1]))
    if train_refs:
        meta = ws.vault.manifest(train_refs[-1]).meta or {}
        spec = cfg.dataset.model_copy(update={k: meta[k] for k in ("val_fraction", "seed")
                                              if k in meta})
        deid_refs = {n: deid.outputs[n] for n in (*TABLES, *TEXT_SETS) if n in deid.outputs}
        # the de-identified policies only: raw ones never reach a training set (issue 17)
        ds = build_dataset(ws, deid_refs, deid.outputs.get(POLICIES), spec, dp=cfg.dp)
        out.update(ds.outputs)
    return out


def _policy_doc(doc: Any) -> Any:
    """The stored policy (its model dump) back in the policy file's shape: a column rule is
    dumped as ``{"class": ..., "op": {...}}`` and written as ``{"class": ..., "operator": ...}``."""
    if isinstance(doc, dict):
        if isinstance(doc.get("op"), dict) and set(doc) <= {"op", "class"}:
            return {**({"class": doc["class"]} if "class" in doc else {}), **doc["op"]}
        return {k: _policy_doc(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_policy_doc(v) for v in doc]
    return doc


#: The DP settings a retrain takes from the adapter's recorded ``privacy`` block.
_DP_RECIPE = ("unit", "accountant", "max_grad_norm", "expected_batch_size",
              "max_examples_per_unit", "multi_employee", "target_epsilon")


def _retrain(ws: Workspace, cfg: PipelineConfig, old_ref: str, name: str,
             outsiders: dict[str, dict[str, Any]], was_member: list[str],
             shredded: set[str]) -> dict[str, Any]:
    """Retrain ``name`` from the recipe recorded with ``old_ref`` on the current training set,
    then audit it afresh with the erased people (``outsiders``, by label) as non-members. The
    base model must be the recorded one (same hash). ``erased`` in the result: for each erased
    person, whether they were in ``old_ref``'s training set, whether the new adapter's recorded
    lineage reaches any shredded version, whether the new training or validation set holds
    them, and their membership scores placed among the held-out employees'."""
    rec = AdapterRecord.from_dict(dict(ws.vault.manifest(old_ref).meta or {}))
    spec = TrainSpec(**{**rec.train, "resume_from": None})  # its checkpoints are shredded
    if rec.dp:
        recorded = {k: rec.privacy[k] for k in _DP_RECIPE if rec.privacy.get(k) is not None}
        if "target_epsilon" in recorded:
            recorded["noise_multiplier"] = None
        dp = cfg.dp.model_copy(update={"enabled": True, **recorded})
    else:
        dp = cfg.dp.model_copy(update={"enabled": False})
    run_cfg = cfg.model_copy(update={"train": spec, "dp": dp})
    st = run_stages(ws, run_cfg, start="base_model", stop="base_model")
    assert st.base_model is not None
    if st.base_model.record.sha256 != rec.base_model_sha256:
        raise IntegrityError(f"the recipe of '{old_ref}' names a base model whose hash differs "
                             "from the one this config prepares; retrain with the recorded base")
    st = run_stages(ws, run_cfg, start="train", stop="train", prior=st, adapter_name=name)
    assert st.train is not None
    new_ref = st.train.record.ref
    audit = audit_stage(gate_site(ws), new_ref, run_cfg.audit, run_cfg.gate,
                        outsiders={label: Outsider(list(o["tokens"]), list(o["examples"]))
                                   for label, o in outsiders.items()})
    placed = audit.figures.get("outsiders") or {}
    reached = bool(set(build_graph(ws.vault).upstream(new_ref)) & shredded)
    erased = {label: {"was_member_of_superseded": label in was_member,
                      "lineage_reaches_erased_data": reached, **placed[label]}
              for label in sorted(outsiders)}
    return {"from": old_ref, "to": new_ref, "audit_id": audit.record.audit_id,
            "audit_passed": bool(audit.record.passed),
            "epsilon": st.train.record.adapter.epsilon,
            "train_data": st.train.record.adapter.train_data,
            "base_model_sha256": rec.base_model_sha256, "erased": erased}


# ------------------------------------------------------------------ certificate
def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _certify(ws: Workspace, batch: str, ids: list[str], plan: dict[str, Any],
             people: _People) -> Path:
    checks: dict[str, Any] = {}
    gone = ws.vault.shredded()
    checks["found_versions_shredded"] = all(r in gone for r in plan["found"])
    unreadable = True
    for ref in plan["found"]:
        try:
            ws.vault.get(ref)
            unreadable = False
        except (KeyDestroyed, NotFoundError):
            pass
    checks["found_versions_unreadable"] = unreadable
    subjects = ws.subjects()
    checks["subject_index_empty"] = all(not subjects.find(pid).all for pid in sorted(people.ids))
    leaks = {}
    for info in plan.get("rewritten", {}).values():
        kinds = people.holds(ws.vault.get(info["to"]))
        if kinds:
            leaks[info["to"]] = kinds
    checks["new_versions_free_of_identifiers"] = not leaks
    checks["backups_all_shredded"] = not plan.get("backups", {}).get("pending")
    checks["retrained_audits_passed"] = all(r.get("audit_passed") for r in
                                            plan.get("retrained", {}).values())
    # each erased person is a non-member of every retrained adapter: its recorded lineage
    # reaches no shredded version and its training set does not hold them
    # (every erased person reported for every retrained adapter)
    retrained = list(plan.get("retrained", {}).values())
    checks["erased_absent_from_retrained_adapters"] = all(
        len(r.get("erased") or {}) == len(people.ids) for r in retrained) and all(
        not (e["lineage_reaches_erased_data"] or e["in_training_set"])
        for r in retrained for e in (r.get("erased") or {}).values())
    if leaks:
        raise IntegrityError(f"erasure batch {batch}: the rewritten versions still hold "
                             f"identifiers of the subjects ({', '.join(sorted(leaks))})")
    body = {
        "schema": CERT_SCHEMA, "batch": batch, "requests": ids, "workspace": ws.config.name,
        "vault_id": ws.vault.keyring.vault_id, "issued_at": utcnow().isoformat(timespec="seconds"),
        "found": plan["found"], "rewritten": plan.get("rewritten", {}),
        "derived": plan.get("derived", {}), "shredded": plan["found"],
        "revoked_releases": plan.get("revoked", []), "superseded_adapters": plan["adapters"],
        "retrained": plan.get("retrained", {}), "checks": checks,
        "backups": plan.get("backups", {"shredded": [], "pending": []}),
        "seconds": plan.get("seconds", {}),
    }
    key = ws.keys.signing_key()
    cert = {"certificate": body,
            "signature": base64.b64encode(key.sign(_canonical(body))).decode(),
            "key_fingerprint": fingerprint(key.public_key())}
    out = private_dir(ws.reports_dir / CERT_DIR) / f"{batch}.json"
    atomic_write_text(out, json.dumps(cert, indent=2, sort_keys=True))
    return out


def verify_certificate(public_key: Ed25519PublicKey | None, path: str | Path) -> dict[str, Any]:
    """Check an erasure certificate's signature with the workspace's pinned public key; returns
    its body, or raises IntegrityError (tampered, or signed by another key)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
        body, sig = doc["certificate"], base64.b64decode(doc["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an erasure certificate ({type(exc).__name__})", path=p) from None
    if public_key is None:
        raise IntegrityError("the workspace pins no public key to check certificates with")
    try:
        public_key.verify(sig, _canonical(body))
    except InvalidSignature:
        raise IntegrityError(f"erasure certificate {p.name}: the signature does not match its "
                             "content (tampered, or signed by another workspace)") from None
    if body.get("schema") != CERT_SCHEMA:
        raise IntegrityError(f"erasure certificate {p.name}: unknown schema")
    return dict(body)
