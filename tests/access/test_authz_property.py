"""Issue 16: a property-based test of the authorisation model.

Random sequences of (role, operation | vault put/get of a name with a claimed kind | lockdown
on/off) run against a real workspace, and every decision (and its audit event) is compared
with a reference written here independently of ``privtune.access.roles`` and
``privtune.vault.names``: the matrix as operation -> roles, the lockdown rule, the reserved
names, and "the first version fixes the kind".
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from privtune.access import admin
from privtune.errors import NotFoundError, PermissionDenied
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace, init_workspace

# ---- the reference model -------------------------------------------------------------------
ROLES = ["admin", "data-steward", "ml-engineer", "auditor", "viewer", "dpo", "app",
         "break-glass"]
NOT_BG = [r for r in ROLES if r != "break-glass"]
# operation -> the roles that hold it outside a lockdown
WHO = {
    "data.read": {"admin", "data-steward"},
    "data.write": {"admin", "data-steward"},
    "training.read": {"admin", "data-steward", "ml-engineer"},
    "training.write": {"admin", "data-steward"},
    "key.read": {"admin", "data-steward"},
    "key.write": {"admin"},
    "model.read": {"admin", "ml-engineer", "auditor"},
    "model.write": {"admin", "ml-engineer"},
    "model.query": {"admin", "ml-engineer", "auditor", "app"},
    "metadata.read": {"admin", "data-steward", "ml-engineer", "auditor", "viewer", "dpo"},
    "subject.lookup": {"admin", "data-steward", "auditor", "dpo"},
    "subject.index": {"admin", "data-steward"},
    "subject.export": {"admin", "dpo"},
    "subject.erase": {"admin", "dpo"},
    "records.read": {"admin", "auditor", "dpo"},
    "policy.write": {"admin", "dpo"},
    "release.approve": {"admin", "dpo"},
    "audit.read": {"admin", "auditor", "dpo"},
    "user.manage": {"admin"},
    "lockdown.set": {"admin"},
    "budget.write": {"admin", "data-steward"},
    "model.export": {"admin", "ml-engineer"},
    "model.export_unaudited": {"admin"},
    # issue 20: security operations
    "backup.write": {"admin"},
    "backup.restore": {"admin"},
    "incident.manage": {"admin", "dpo"},
    "alerts.manage": {"admin", "auditor", "dpo"},
    # issue 19: four-eyes on erasure requests
    "subject.approve": {"admin", "dpo"},
    "retention.manage": {"admin", "dpo"},  # issue 19: retention and legal holds
    "subject.rectify": {"admin", "dpo"},  # issue 19: rectification
    "console.serve": {"admin"},  # issue 22: the web console
    "synthetic.write": {"admin", "data-steward"},  # issue 23: DP synthetic data
    "federated.train": {"admin", "ml-engineer"},  # issue 21: federated fine-tuning
    "federated.coordinate": {"admin", "ml-engineer"},
    "federated.gate": {"admin", "dpo"},  # issue 21: a site's gate on the global adapter
}
LOOK_ONLY = {"metadata.read", "audit.read"}


def ref_allowed(role: str | None, op: str, locked: bool) -> bool:
    if role is None:
        return False
    if locked:
        return role == "break-glass" or (op in LOOK_ONLY and role in WHO[op])
    return role in WHO[op]


CATEGORY = {"key": "key", "examples": "training", "adapter": "model", "report": "model",
            "table": "data", "texts": "data", "dataset": "data", "blob": "data"}
KINDS = ["key", "examples", "adapter", "table", "texts", "blob"]  # fewer: more collisions
# name -> the kinds it may ever hold (absent: any, until its first version)
RESERVED = {"pseudonym-key": {"key"}, "release-signing-key": {"key"}, "spare-key": {"key"},
            "trainset": {"examples"}, "valset": {"examples"}, "canaries": {"blob"},
            "ckpt-run1": {"adapter"}, "employees": {"table"}, "reviews": {"texts"},
            "tickets-deid": {"table", "texts"}, "gate-report": {"report"}}
NAMES = ["pseudonym-key", "spare-key", "trainset", "ckpt-run1", "tickets-deid", "gate-report",
         "notes", "my-adapter"]

# ---- random sequences ----------------------------------------------------------------------
who = st.sampled_from([*ROLES, None, "admin", "admin", "data-steward"])  # more allowed steps
step = st.one_of(
    st.tuples(st.just("op"), who, st.sampled_from(sorted(WHO))),
    st.tuples(st.just("put"), who, st.sampled_from(NAMES), st.sampled_from(KINDS)),
    st.tuples(st.just("get"), who, st.sampled_from(NAMES)),
    st.tuples(st.just("lockdown"), st.sampled_from(["admin", "break-glass", "dpo"]), st.booleans()),
)


def _last(ws: Workspace) -> AuditEvent:
    with ws.store.session() as s:
        return s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


@pytest.mark.slow  # seconds of work (a training run, a subprocess, a property search or a big input)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=30))
# the red team's attack and a kind change of a free name, always tried
@example([("put", "admin", "notes", "blob"), ("put", "admin", "notes", "adapter"),
          ("put", "ml-engineer", "pseudonym-key", "adapter"), ("put", "ml-engineer", "trainset",
                                                              "adapter"),
          ("put", "ml-engineer", "my-adapter", "adapter"), ("get", "ml-engineer", "my-adapter")])
# a lockdown entered, used by break-glass, not liftable by the admin, lifted by break-glass
@example([("lockdown", "admin", True), ("get", "data-steward", "pseudonym-key"),
          ("op", "auditor", "audit.read"), ("put", "break-glass", "trainset", "examples"),
          ("lockdown", "admin", False), ("lockdown", "break-glass", False),
          ("op", "break-glass", "data.read"), ("get", "data-steward", "trainset")])
def test_random_sequences_follow_the_reference(steps) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        boot = init_workspace(root)
        secrets = {r: admin.add_user(boot.access, boot.store, f"p-{r}", r).secret for r in NOT_BG[1:]}
        secrets["break-glass"] = admin.add_user(boot.access, boot.store, "p-bg", "break-glass").secret
        secrets["admin"] = boot.initial_key.secret  # type: ignore[union-attr]
        boot.close()
        wss: dict[str | None, Workspace] = {r: Workspace.open(root, api_key=k) for r, k in secrets.items()}
        wss[None] = Workspace.open(root)
        kinds: dict[str, str] = {"pseudonym-key": "key"}  # what init wrote
        locked = False
        try:
            for st_ in steps:
                if st_[0] == "op":
                    _, role, op = st_
                    _expect(wss[role], lambda ws, op=op: ws.guard(op, "obj"),
                            ref_allowed(role, op, locked), op, role)
                elif st_[0] == "put":
                    _, role, name, kind = st_
                    fixed = kinds.get(name)
                    conflict = (fixed is not None and kind != fixed) or (
                        name in RESERVED and kind not in RESERVED[name])
                    deciding = fixed or (sorted(RESERVED[name])[0] if conflict else kind)
                    op = f"{CATEGORY[deciding]}.write"
                    ok = ref_allowed(role, op, locked) and not conflict
                    _expect(wss[role], lambda ws, n=name, k=kind: ws.vault.put(n, b"v", kind=k),
                            ok, op, role)
                    if ok:
                        kinds[name] = kind
                elif st_[0] == "get":
                    _, role, name = st_
                    if name not in kinds:
                        before = _last(wss["admin"]).seq
                        try:
                            wss[role].vault.get(name)
                            raise AssertionError(f"{name} does not exist")
                        except NotFoundError:
                            pass
                        assert _last(wss["admin"]).seq == before
                        continue
                    op = f"{CATEGORY[kinds[name]]}.read"
                    _expect(wss[role], lambda ws, n=name: ws.vault.get(n),
                            ref_allowed(role, op, locked), op, role)
                else:
                    _, role, on = st_
                    ok = ref_allowed(role, "lockdown.set", locked)
                    _expect(wss[role], lambda ws, on=on: admin.set_lockdown(ws.access, ws.store, on),
                            ok, "lockdown.set", role)
                    if ok:
                        locked = on
        finally:
            for ws in wss.values():
                ws.close()


def _expect(ws: Workspace, action, ok: bool, op: str, role: str | None) -> None:
    if ok:
        action(ws)
    else:
        try:
            action(ws)
        except PermissionDenied:
            pass
        else:
            raise AssertionError(f"{role} was allowed {op}")
    ev = _last(ws)
    assert (ev.op, ev.outcome, ev.role) == (op, "allow" if ok else "deny", role or "-"), \
        (ev.op, ev.outcome, ev.role, ev.reason)


def test_every_cell_matches_the_reference_in_and_out_of_lockdown() -> None:
    """The pure decision, exhaustively (the sequences above sample it through the workspace)."""
    from privtune.access.roles import OPERATIONS, allowed
    from privtune.access.roles import ROLES as IMPL_ROLES

    assert set(IMPL_ROLES) == set(ROLES) and set(OPERATIONS) == set(WHO)
    for locked in (False, True):
        for role in [*ROLES, None, "root"]:
            for op in WHO:
                assert allowed(role, op, lockdown=locked) == (
                    role in ROLES and ref_allowed(role, op, locked)), (role, op, locked)
