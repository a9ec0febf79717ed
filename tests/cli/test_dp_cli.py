"""`privtune dp budget` and `privtune dp ledger`: addressed by source export (or a dataset ref
resolved to its sources), guarded (exit 7 for a role that may not) and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.cli.main import run
from privtune.dp import ledger
from privtune.store.audit_models import AuditEvent
from privtune.store.ledger_models import SourceBudget


@pytest.fixture()
def ws_dir(workspace):
    emp = workspace.vault.put("employees", b"t", kind="table")
    workspace.subjects().index(emp, ["E1", "E2", "E3"])
    deid = workspace.vault.put("employees-deid", b"d", kind="table", parents=[emp])
    ts = workspace.vault.put("trainset", b"x", kind="examples", parents=[deid])
    ledger.admit(workspace.access.check, workspace.store, "run-1", ts, 6.0, 1e-5, "employee",
                 "prv")
    viewer = admin.add_user(workspace.access, workspace.store, "v", "viewer")
    return str(workspace.root), viewer.secret, workspace


def _events(ws, op: str) -> list[AuditEvent]:
    with ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.op == op)))


def test_dp_ledger_shows_runs_by_source_export(ws_dir, capsys) -> None:
    root, _, ws = ws_dir
    before = len(_events(ws, "metadata.read"))
    assert run(["dp", "ledger", "-w", root]) == 0
    out = capsys.readouterr().out
    assert "trainset@1" in out and "employees" in out
    assert "epsilon spent 6 by 1 DP run(s), budget 10 (workspace default), 4 left" in out
    assert len(_events(ws, "metadata.read")) == before + 1


def test_dp_budget_by_dataset_ref_sets_the_budget_of_its_export(ws_dir, capsys) -> None:
    root, _, ws = ws_dir
    assert run(["dp", "budget", "trainset@1", "--epsilon", "8", "-w", root]) == 0
    assert "budget of source export 'employees': epsilon 8 (spent so far: 6)" in \
        capsys.readouterr().out
    assert run(["dp", "budget", "employees", "-w", root]) == 0
    assert "employees: epsilon spent 6 by 1 DP run(s), budget 8, 2 left" in capsys.readouterr().out
    # below the spend: refused (exit 8) unless forced, then set with a warning
    assert run(["dp", "budget", "employees", "--epsilon", "5", "-w", root]) == 8
    assert "--force" in capsys.readouterr().err
    assert run(["dp", "budget", "employees", "--epsilon", "5", "--force", "-w", root]) == 0
    assert "warning" in capsys.readouterr().err
    with ws.store.session() as s:
        assert s.get(SourceBudget, "employees").epsilon == 5.0


def test_a_viewer_cannot_set_a_budget(ws_dir, capsys, monkeypatch) -> None:
    """Attack (issue 16 finding 2): `dp budget trainset --epsilon 1e300` with any key, or none."""
    root, viewer_key, ws = ws_dir
    monkeypatch.setenv("PRIVTUNE_API_KEY", viewer_key)
    assert run(["dp", "budget", "trainset", "--epsilon", "50", "-w", root]) == 7
    assert "may not budget.write" in capsys.readouterr().err
    assert run(["dp", "ledger", "-w", root]) == 0  # reading is metadata.read
    monkeypatch.delenv("PRIVTUNE_API_KEY")
    assert run(["dp", "budget", "trainset", "--epsilon", "1e300", "-w", root]) == 7
    assert run(["dp", "ledger", "-w", root]) == 7
    with ws.store.session() as s:
        assert s.scalars(select(SourceBudget)).all() == []
    denied = [(e.role, e.outcome) for e in _events(ws, "budget.write")]
    assert denied == [("viewer", "deny"), ("-", "deny")]
