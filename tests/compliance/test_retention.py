"""Retention with a frozen clock (``now`` injected): expiry exactly at the boundary, adapters
counted from when they were superseded, per-object periods, legal holds (row-MAC'd) respected,
lesser roles refused, the CLI."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.cli.main import run
from privtune.errors import IntegrityError, KeyDestroyed, PermissionDenied
from privtune.pipeline.retention import _utc as utc
from privtune.pipeline.retention import (
    apply_retention,
    list_holds,
    place_hold,
    release_hold,
    retention_class,
    retention_plan,
)
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace

DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


@pytest.fixture()
def ws(workspace: Workspace) -> Any:
    v = workspace.vault
    v.put("employees", b"employee_id\nE00001\n", kind="table")
    v.put("employees-deid", b"employee_id\nEMP-0\n", kind="table")
    v.put("trainset", b"{}\n", kind="examples")
    v.put("adapter", b"weights-1", kind="adapter")
    v.put("adapter", b"weights-2", kind="adapter")
    v.put("pseudonym-key", b"k" * 32, kind="key")
    workspace.keys_ = {role: admin.add_user(workspace.access, workspace.store, f"u-{role}", role).secret
                       for role in ("dpo", "ml-engineer", "auditor", "data-steward")}
    return workspace


def _created(ws: Workspace, ref: str) -> Any:
    return utc(ws.vault.manifest(ref).created_at)


def _plan(ws: Workspace, now: Any) -> dict[str, Any]:
    return {e.ref: e for e in retention_plan(ws, now=now)}


def test_classes() -> None:
    assert retention_class("employees", "table") == "raw"
    assert retention_class("tickets-deid", "texts") == "deidentified"
    assert retention_class("trainset", "examples") == "deidentified"
    assert retention_class("adapter", "adapter") == "adapter"
    assert retention_class("ckpt-adapter", "adapter") == "adapter"
    assert retention_class("pseudonym-key", "key") == "kept"
    assert retention_class("subject-request-erq-1", "blob") == "kept"
    assert retention_class("deid-policy", "blob") == "kept"


def test_expiry_exactly_at_the_boundary(ws: Workspace) -> None:
    raw_at = _created(ws, "employees@1") + 90 * DAY
    before, at = _plan(ws, raw_at - TICK), _plan(ws, raw_at)
    assert before["employees@1"].expires_at == raw_at and not before["employees@1"].expired
    assert at["employees@1"].expired and at["employees@1"].due
    assert not at["employees-deid@1"].expired and not at["trainset@1"].expired
    deid_at = _created(ws, "employees-deid@1") + 730 * DAY
    assert _plan(ws, deid_at)["employees-deid@1"].expired
    assert not _plan(ws, deid_at - TICK)["employees-deid@1"].expired
    # adapters: one year after the next version superseded them; the latest never expires
    sup = _created(ws, "adapter@2") + 365 * DAY
    far = _plan(ws, sup + 3650 * DAY)
    assert far["adapter@1"].expires_at == sup and far["adapter@1"].expired
    assert "adapter@2" not in far and "pseudonym-key@1" not in far
    assert not _plan(ws, sup - TICK)["adapter@1"].expired
    # nothing is shredded by a plan; apply one tick early shreds nothing
    assert apply_retention(ws, now=raw_at - TICK).shredded == []
    assert apply_retention(ws, now=raw_at).shredded == ["employees@1"]
    with pytest.raises(KeyDestroyed):
        ws.vault.get("employees@1")
    assert ws.vault.get("employees-deid@1")  # the rest is readable
    assert _plan(ws, raw_at)["employees@1"].shredded
    assert apply_retention(ws, now=raw_at).shredded == []  # idempotent
    with ws.store.session() as s:
        ev = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    applied = [e for e in ev if e.op == "retention.manage" and e.outcome == "allow"]
    assert len(applied) == 3 and "apply" in applied[-1].detail
    shreds = [e for e in ev if e.object == "employees@1" and e.op == "data.write"]
    assert [e.outcome for e in shreds if "shred" in e.detail] == ["allow"]  # audited


def test_per_object_period(ws: Workspace) -> None:
    ws.config.retention.objects = {"employees": 10, "trainset": None}
    at = _created(ws, "employees@1") + 10 * DAY
    plan = _plan(ws, at)
    assert plan["employees@1"].expired and "trainset@1" not in _plan(ws, at + 9999 * DAY)
    assert not _plan(ws, at - TICK)["employees@1"].expired


def test_legal_hold_blocks_expiry(ws: Workspace) -> None:
    late = _created(ws, "adapter@2") + 4000 * DAY  # everything with a period has expired
    place_hold(ws, "employees", "case 2026-17")
    place_hold(ws, "adapter@1")
    plan = _plan(ws, late)
    assert plan["employees@1"].expired and plan["employees@1"].held_by and not plan["employees@1"].due
    assert [h.target for h in list_holds(ws)] == ["adapter@1", "employees"]
    done = apply_retention(ws, now=late).shredded
    assert set(done) == {"employees-deid@1", "trainset@1"}
    assert ws.vault.get("employees@1") and ws.vault.get("adapter@1")
    release_hold(ws, "employees")
    assert apply_retention(ws, now=late).shredded == ["employees@1"]
    with pytest.raises(KeyDestroyed):
        ws.vault.get("employees@1")
    with pytest.raises(Exception, match="no active hold"):
        release_hold(ws, "employees")


def test_a_db_writer_cannot_release_a_hold(ws: Workspace) -> None:
    place_hold(ws, "employees")
    db = ws.root / "metadata.db"
    with sqlite3.connect(db) as con:
        assert con.execute("UPDATE retention_holds SET active = 0").rowcount == 1
    with pytest.raises(IntegrityError, match="retention_holds"):
        apply_retention(ws, now=_created(ws, "employees@1") + 91 * DAY)
    assert ws.vault.get("employees@1")


@pytest.mark.parametrize("role", ["ml-engineer", "auditor", "data-steward"])
def test_lesser_roles_cannot_apply_or_hold(ws: Workspace, role: str) -> None:
    late = _created(ws, "employees@1") + 91 * DAY
    with Workspace.open(ws.root, api_key=ws.keys_[role]) as other:
        with pytest.raises(PermissionDenied):
            apply_retention(other, now=late)
        with pytest.raises(PermissionDenied):
            place_hold(other, "employees")
        if role == "auditor":
            assert retention_plan(other, now=late)
        else:
            with pytest.raises(PermissionDenied):
                retention_plan(other, now=late)
    assert ws.vault.get("employees@1")  # nothing shredded
    with Workspace.open(ws.root, api_key=ws.keys_["dpo"]) as dpo:
        place_hold(dpo, "employees")
        release_hold(dpo, "employees")
        assert apply_retention(dpo, now=late).shredded == ["employees@1"]


def test_cli(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    root = str(ws.root)
    assert run(["retention", "plan", "-w", root]) == 0
    assert "0 version(s) would be shredded" in capsys.readouterr().out
    assert run(["retention", "hold", "employees", "--reason", "case 1", "-w", root]) == 0
    assert run(["retention", "hold", "no such/name", "-w", root]) != 0
    assert run(["retention", "release-hold", "employees", "-w", root]) == 0
    assert run(["retention", "apply", "-w", root]) == 0
    assert "0 version(s) shredded" in capsys.readouterr().out
    monkeypatch.setenv("PRIVTUNE_API_KEY", ws.keys_["ml-engineer"])
    assert run(["retention", "apply", "-w", root]) == 7
    assert run(["retention", "hold", "employees", "-w", root]) == 7


def test_expiry_reaches_the_backups(ws: Workspace, tmp_path: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``retention apply`` shreds leaves the key escrow of every recorded backup (the one
    mechanism erasure uses): a restore of a backup made before the expiry cannot read it. A
    repository that cannot be opened is pending until ``backup shred-sync``."""
    from privtune import backup
    from privtune.cli.backup_cmd import _accept_restored

    from .conftest import ADMIN_KEY

    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, "retention backup passphrase")
    near, away, parked = tmp_path / "near", tmp_path / "away", tmp_path / "parked"
    for repo in (near, away):
        assert run(["backup", "create", "--repo", str(repo), "-w", str(ws.root)]) == 0
    assert "employees@1" in backup.Repo.open(near).read_escrow().keys
    away.rename(parked)  # unmounted while retention runs
    raw_at = _created(ws, "employees@1") + 90 * DAY
    with Workspace.open(ws.root, api_key=ws.keys_["dpo"]) as dpo:  # delegated backup.write
        done = apply_retention(dpo, now=raw_at)
    assert done.shredded == ["employees@1"]
    assert done.backups_shredded == [{"repo": str(near.resolve()), "keys_removed": 1}]
    (pend,) = done.backups_pending
    assert pend["repo"] == str(away.resolve()) and "shred-sync" in pend["action"]
    escrow = backup.Repo.open(near).read_escrow()
    assert "employees@1" not in escrow.keys and "employees@1" in escrow.shredded
    assert "employees-deid@1" in escrow.keys  # the rest stays restorable
    restored = backup.restore(near, tmp_path / "restored", accept=_accept_restored)
    assert "employees@1" in restored.shredded
    with Workspace.open(tmp_path / "restored", api_key=ADMIN_KEY) as r:
        assert r.vault.get("employees-deid@1")
        with pytest.raises(KeyDestroyed):
            r.vault.get("employees@1")
    # the parked repository still holds the key until shred-sync reaches it
    parked.rename(away)
    assert "employees@1" in backup.Repo.open(away).read_escrow().keys
    assert run(["backup", "shred-sync", "--repo", str(away), "-w", str(ws.root)]) == 0
    assert "employees@1" not in backup.Repo.open(away).read_escrow().keys
    # nothing due: no backup is touched
    assert apply_retention(ws, now=raw_at) == type(done)([])


def test_a_hold_placed_after_the_plan_or_during_apply_blocks_the_shred(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold placed after ``retention plan`` keeps the version; so does one another process
    commits while ``apply`` runs, after apply read the holds and before it shreds: the hold is
    re-checked inside the transaction that destroys the key."""
    from privtune.pipeline import retention

    from .conftest import ADMIN_KEY

    late = _created(ws, "adapter@2") + 4000 * DAY
    assert _plan(ws, late)["employees@1"].due
    with Workspace.open(ws.root, api_key=ws.keys_["dpo"]) as other:
        place_hold(other, "employees@1", "case 7")  # after the plan
    real = retention._expiries

    def racing(w: Workspace, now: Any) -> Any:
        out = real(w, now)  # apply has read the holds: trainset@1 is due
        with Workspace.open(ws.root, api_key=ADMIN_KEY) as other:
            place_hold(other, "trainset", "case 8")
        return out

    monkeypatch.setattr(retention, "_expiries", racing)
    done = apply_retention(ws, now=late)
    assert done.shredded == ["adapter@1", "employees-deid@1"]
    assert done.held_meanwhile == ["trainset@1"]
    assert ws.vault.get("employees@1") and ws.vault.get("trainset@1")
    with pytest.raises(KeyDestroyed):
        ws.vault.get("employees-deid@1")
    monkeypatch.setattr(retention, "_expiries", real)
    release_hold(ws, "trainset")
    assert apply_retention(ws, now=late).shredded == ["trainset@1"]
