"""Issue 16: the break-glass admin acts only during a lockdown; a lockdown freezes every other
role down to metadata.read and audit.read. Every decision is audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.access.apikeys import ENV_API_KEY
from privtune.access.roles import OPERATIONS
from privtune.cli.main import run
from privtune.errors import PermissionDenied
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace


@pytest.fixture()
def crew(tmp_path: Path, make_workspace):
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = {r: admin.add_user(ws.access, ws.store, f"l-{r}", r).secret
            for r in ("break-glass", "data-steward", "auditor", "dpo", "app")}
    keys["admin"] = ws.initial_key.secret  # type: ignore[union-attr]
    ws.vault.put("employees", b"rows", kind="table")
    ws.close()
    return root, keys


def _last(ws: Workspace) -> AuditEvent:
    with ws.store.session() as s:
        return s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


def test_break_glass_holds_nothing_outside_a_lockdown(crew) -> None:
    root, keys = crew
    with Workspace.open(root, api_key=keys["break-glass"]) as ws:
        for op in OPERATIONS:
            with pytest.raises(PermissionDenied, match="role break-glass may not"):
                ws.guard(op, "x")
        with pytest.raises(PermissionDenied):
            ws.vault.get("employees")


def test_lockdown_freezes_everyone_but_break_glass(crew, monkeypatch: pytest.MonkeyPatch) -> None:
    root, keys = crew
    monkeypatch.setenv(ENV_API_KEY, keys["admin"])
    assert run(["access", "lockdown", "on", "-w", str(root)]) == 0
    with Workspace.open(root, api_key=keys["data-steward"]) as ws:
        with pytest.raises(PermissionDenied, match="during a lockdown"):
            ws.vault.get("employees")
        assert _last(ws).outcome == "deny" and "lockdown" in _last(ws).reason
        assert ws.guard("metadata.read", "vault").role == "data-steward"
    with Workspace.open(root, api_key=keys["auditor"]) as ws:
        ws.guard("audit.read", "audit-log")
        with pytest.raises(PermissionDenied):
            ws.guard("model.read", "adapter")
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        with pytest.raises(PermissionDenied, match="during a lockdown"):
            ws.guard("user.manage", "users")
        with pytest.raises(PermissionDenied):  # the admin cannot lift it
            admin.set_lockdown(ws.access, ws.store, False)
    with Workspace.open(root, api_key=keys["break-glass"]) as ws:
        assert ws.vault.get("employees") == b"rows"
        ev = _last(ws)
        assert (ev.op, ev.outcome, ev.role) == ("data.read", "allow", "break-glass")
        admin.set_lockdown(ws.access, ws.store, False)
        with pytest.raises(PermissionDenied):  # back to nothing once it is over
            ws.vault.get("employees")
    with Workspace.open(root, api_key=keys["data-steward"]) as ws:
        assert ws.vault.get("employees") == b"rows"


@pytest.mark.parametrize("role", ["app", "dpo", "data-steward"])
def test_only_admin_enters_a_lockdown(crew, role: str) -> None:
    root, keys = crew
    with Workspace.open(root, api_key=keys[role]) as ws, pytest.raises(PermissionDenied):
        admin.set_lockdown(ws.access, ws.store, True)
    with Workspace.open(root, api_key=keys["data-steward"]) as ws:
        assert not admin.in_lockdown(ws.store)
