"""Four-eyes on releases (privtune.gate.approval) without a model: who may give the second
approval after whose first, under each mode; approvals name their audit; the entry point is
guarded."""

from __future__ import annotations

import pytest

from privtune.access import admin
from privtune.access.guard import Guard
from privtune.access.principal import Principal
from privtune.errors import NotFoundError, PermissionDenied
from privtune.gate.approval import FIRST, approve_release, pending_approval, second_approval_problem
from privtune.pipeline.site import gate_site
from privtune.workspace import Workspace

REF, AUDIT = "adapter@3", "audit-20261201-000000-aaaaaa"


def _as(ws: Workspace, handle: str, role: str) -> Principal:
    key = admin.add_user(ws.access, ws.store, handle, role)
    return Principal(key.user_id, handle, role, key.key_id)


def _first(ws: Workspace, p: Principal, audit: str = AUDIT) -> None:
    Guard(ws.keys.subkey, ws.audit, p).check("release.approve", REF, action=FIRST, audit=audit)


def test_second_approver_rules(workspace: Workspace) -> None:
    ws = workspace
    dpo_a, dpo_b = _as(ws, "dpo-a", "dpo"), _as(ws, "dpo-b", "dpo")
    boss = _as(ws, "boss", "admin")

    def problem(mode: str, p: Principal) -> str:
        return second_approval_problem(ws.store, mode, p.user_id, p.role, REF, AUDIT)

    assert problem("none", dpo_a) == ""
    assert "needs a first approval" in problem("other-user", dpo_a)
    _first(ws, dpo_a, audit="audit-older")  # an approval of another audit does not count
    assert pending_approval(ws.store, REF, AUDIT) is None
    _first(ws, dpo_a)
    first = pending_approval(ws.store, REF, AUDIT)
    assert first is not None and first.actor == dpo_a.user_id and first.role == "dpo"
    assert "first approver may not also release" in problem("other-user", dpo_a)
    assert problem("other-user", dpo_b) == ""
    assert "role other than dpo" in problem("other-role", dpo_b)
    assert problem("other-role", boss) == ""


def test_a_denied_first_approval_does_not_count(workspace: Workspace) -> None:
    ws = workspace
    viewer = _as(ws, "v", "viewer")
    with pytest.raises(PermissionDenied):
        _first(ws, viewer)
    assert pending_approval(ws.store, REF, AUDIT) is None


def test_approve_release_is_guarded(workspace: Workspace) -> None:
    ws = workspace
    viewer, dpo = _as(ws, "v2", "viewer"), _as(ws, "dpo-c", "dpo")
    ws.access.principal = viewer
    with pytest.raises(PermissionDenied):
        approve_release(gate_site(ws), ws.access, AUDIT)
    ws.access.principal = dpo
    with pytest.raises(NotFoundError, match="no such audit"):
        approve_release(gate_site(ws), ws.access, AUDIT)
