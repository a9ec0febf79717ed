"""Backups (issue 20): round trip, incremental dedup, every byte authenticated, fault injection,
kill -9 during backup and restore, missing passphrases, and crypto-shredding that reaches backups."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from privtune import backup
from privtune.access import admin
from privtune.backup.repo import Repo
from privtune.backup.snapshot import DB_FILE
from privtune.cli.backup_cmd import _accept_restored, _source
from privtune.errors import (
    InputError,
    IntegrityError,
    KeyDestroyed,
    KeyMissing,
    PermissionDenied,
    WorkspaceError,
    WrongKey,
)
from privtune.store import DataKey
from privtune.store.audit_models import AuditEvent
from privtune.vault.keyring import forget_unlocked
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]
PASS = b"backup passphrase for the tests"


@pytest.fixture()
def ws(workspace, monkeypatch):
    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, PASS.decode())
    workspace.vault.put("employees", b"employee_id,name\nE00001,Ann\n" * 2000, kind="table")
    workspace.vault.put("blob", os.urandom(3 * (1 << 20) + 17), kind="blob")
    return workspace


def _snap(ws, repo: Path) -> backup.CreateResult:
    return backup.create(ws.guard, _source(ws), repo)


def _restore_checked(repo: Path, target: Path, **kw) -> backup.RestoreResult:
    return backup.restore(repo, target, accept=_accept_restored, **kw)


def test_round_trip_restores_a_workspace_that_verifies(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    made = _snap(ws, repo)
    assert made.files >= 5 and made.chunks_new >= 4
    checked = backup.verify(repo)
    assert checked.ok and checked.bytes_checked >= made.bytes_total
    done = _restore_checked(repo, tmp_path / "restored")
    assert done.snapshot_id == made.snapshot_id and not done.shredded
    with Workspace.open(tmp_path / "restored", api_key=ADMIN_KEY) as r:
        assert r.vault.get("employees@1") == ws.vault.get("employees@1")
        assert r.vault.get("blob@1") == ws.vault.get("blob@1")
        assert all(v.ok for v in r.vault.verify())
        with r.store.session() as s:  # the restore was checked and audited in the restored log
            ops = [e.op for e in s.scalars(select(AuditEvent))]
        assert "backup.restore" in ops


def test_incremental_snapshot_stores_only_what_changed(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    first = _snap(ws, repo)
    ws.vault.put("employees", b"employee_id,name\nE00002,Bo\n" * 2000, kind="table")
    second = _snap(ws, repo)
    assert second.bytes_total > first.bytes_total
    assert second.bytes_written < first.bytes_written / 10  # the 3 MiB blob is not stored again
    assert second.bytes_read < first.bytes_read / 2          # nor even read (size + mtime match)
    assert len(Repo.open(repo).snapshot_ids()) == 2
    assert backup.verify(repo).ok


def test_repository_holds_no_plaintext_and_no_wrapped_key(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    with ws.store.session() as s:
        wrapped = [bytes(k.wrapped) for k in s.scalars(select(DataKey)) if k.wrapped]
    _snap(ws, repo)
    blob = b"".join(p.read_bytes() for p in repo.rglob("*") if p.is_file())
    assert b"E00001" not in blob and b"privtune.yaml" not in blob
    r = Repo.open(repo)
    plain = b"".join(r.get_chunk(c) for c in r.chunk_ids())
    assert b"E00001,Ann" not in plain  # vault files are stored as they are: encrypted
    for w in wrapped:  # the snapshot's database has every wrapped key blanked
        assert w not in plain


def _data_chunk(repo: Path) -> Path:
    r = Repo.open(repo)
    m = r.read_snapshot(r.latest())
    f = next(f for f in m["files"] if f["path"].startswith("vault/objects/blob/"))
    return r.chunk_path(f["chunks"][1])


@pytest.mark.parametrize("fault", ["flip", "truncate", "missing"])
def test_damaged_chunks_are_detected_by_default(ws, tmp_path, fault: str) -> None:
    repo = tmp_path / "repo"
    _snap(ws, repo)
    chunk = _data_chunk(repo)
    raw = bytearray(chunk.read_bytes())
    if fault == "flip":
        raw[len(raw) // 2] ^= 0x01  # one bit in the middle of a data chunk
        chunk.write_bytes(bytes(raw))
    elif fault == "truncate":
        chunk.write_bytes(bytes(raw[: len(raw) - 100]))
    else:
        chunk.unlink()
    checked = backup.verify(repo)
    assert not checked.ok and len(checked.problems) == 1
    assert chunk.name[:16] in checked.problems[0]
    with pytest.raises(IntegrityError):
        _restore_checked(repo, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    assert not list(tmp_path.glob(".restored.restore-*"))


def test_flipped_snapshot_or_escrow_is_detected(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    _snap(ws, repo)
    snap = next((repo / "snapshots").glob("*.snap"))
    raw = bytearray(snap.read_bytes())
    raw[len(raw) // 3] ^= 0x04
    snap.write_bytes(bytes(raw))
    assert not backup.verify(repo).ok
    esc = repo / "escrow.bin"
    raw = bytearray(esc.read_bytes())
    raw[-5] ^= 0x01
    esc.write_bytes(bytes(raw))
    assert any("escrow" in p for p in backup.verify(repo).problems)


def test_wrong_or_missing_passphrases_fail_clearly(ws, tmp_path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    _snap(ws, repo)
    with pytest.raises(WrongKey, match="wrong backup passphrase"):
        backup.verify(repo, passphrase=b"not it")
    monkeypatch.delenv(backup.ENV_BACKUP_PASSPHRASE)
    with pytest.raises(KeyMissing, match="PRIVTUNE_BACKUP_PASSPHRASE"):
        backup.restore(repo, tmp_path / "r1")
    assert not (tmp_path / "r1").exists()
    # A machine with the backup passphrase but not the workspace's: refused, nothing left behind.
    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, PASS.decode())
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    forget_unlocked()
    with pytest.raises(KeyMissing, match="PRIVTUNE_PASSPHRASE"):
        _restore_checked(repo, tmp_path / "r2")
    assert not (tmp_path / "r2").exists()


def test_restore_needs_backup_restore_in_the_restored_workspace(ws, tmp_path, monkeypatch) -> None:
    viewer = admin.add_user(ws.access, ws.store, "v", "viewer").secret
    repo = tmp_path / "repo"
    _snap(ws, repo)
    monkeypatch.setenv("PRIVTUNE_API_KEY", viewer)
    with pytest.raises(PermissionDenied):
        _restore_checked(repo, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    with pytest.raises(InputError, match="not empty"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        backup.restore(repo, tmp_path / "full")


def test_a_viewer_may_not_back_up(ws, tmp_path) -> None:
    viewer = admin.add_user(ws.access, ws.store, "v", "viewer").secret
    with Workspace.open(ws.root, api_key=viewer) as v, pytest.raises(PermissionDenied):
        _snap(v, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_repository_inside_the_workspace_is_refused(ws) -> None:
    with pytest.raises(InputError, match="outside the workspace"):
        _snap(ws, ws.root / "reports" / "backup")


def test_postgres_store_is_refused_with_the_pg_dump_note(ws, tmp_path) -> None:
    src = _source(ws)
    src.db_url = "postgresql://h/db"
    with pytest.raises(WorkspaceError, match="pg_dump"):
        backup.create(ws.guard, src, tmp_path / "repo")


def test_shredded_data_is_not_brought_back_by_any_restore(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    old = _snap(ws, repo)
    with ws.store.session() as s:
        key = bytes(s.scalars(select(DataKey).where(DataKey.name == "employees")).one().wrapped)
    ws.vault.shred("employees@1")
    # The erasure workflow's call: the key leaves the escrow at once.
    assert backup.shred_in_backups(ws.guard, repo, ws.vault.shredded()) == 1
    esc = Repo.open(repo).read_escrow()
    assert "employees@1" not in esc.keys and "employees@1" in esc.shredded
    done = _restore_checked(repo, tmp_path / "restored", snapshot=old.snapshot_id)
    assert done.shredded == ["employees@1"]
    with Workspace.open(tmp_path / "restored", api_key=ADMIN_KEY) as r:
        with pytest.raises(KeyDestroyed):
            r.vault.get("employees@1")
        assert r.vault.get("blob@1") == ws.vault.get("blob@1")
    conn = sqlite3.connect(tmp_path / "restored" / DB_FILE)
    stored = [w for (w,) in conn.execute("SELECT wrapped FROM data_keys") if w]
    conn.close()
    assert key not in stored
    assert not list((tmp_path / "restored" / "vault" / "objects").glob("employees/*"))
    # A new backup never escrows it again either.
    _snap(ws, repo)
    assert "employees@1" not in Repo.open(repo).read_escrow().keys


def test_backup_create_applies_shreds_done_since(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    old = _snap(ws, repo)
    ws.vault.shred("blob@1")
    assert _snap(ws, repo).shredded_in_escrow == 1
    done = _restore_checked(repo, tmp_path / "restored", snapshot=old.snapshot_id)
    assert done.shredded == ["blob@1"]


# ---- kill -9 -----------------------------------------------------------------------------------
def _killed_backup(root: str, repo: str, where: str) -> None:  # runs in a forked child
    ws = Workspace.open(root, api_key=ADMIN_KEY)
    if where == "chunks":
        orig = Repo.put_chunk
        calls = {"n": 0}

        def put_chunk(self, data):
            calls["n"] += 1
            if calls["n"] == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return orig(self, data)

        Repo.put_chunk = put_chunk  # type: ignore[method-assign]
    else:
        def write_snapshot(self, manifest, signer):
            os.kill(os.getpid(), signal.SIGKILL)

        Repo.write_snapshot = write_snapshot  # type: ignore[method-assign]
    backup.create(ws.guard, _source(ws), Path(repo))


def _killed_restore(repo: str, target: str) -> None:  # runs in a forked child
    from privtune.backup import snapshot

    def fill(root, escrow, gone):
        os.kill(os.getpid(), signal.SIGKILL)

    snapshot._fill_keys = fill  # type: ignore[assignment]
    backup.restore(Path(repo), Path(target))


def _run_killed(target, *args) -> None:
    proc = multiprocessing.get_context("fork").Process(target=target, args=args)
    proc.start()
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL


@pytest.mark.slow  # forks and kills real backup and restore processes
@pytest.mark.parametrize("where", ["chunks", "before-commit"])
def test_kill9_during_backup_leaves_no_snapshot(ws, tmp_path, where: str) -> None:
    repo = tmp_path / "repo"
    first = _snap(ws, repo)
    ws.vault.put("more", os.urandom(5 << 20), kind="blob")
    _run_killed(_killed_backup, str(ws.root), str(repo), where)
    r = Repo.open(repo)
    assert r.snapshot_ids() == [first.snapshot_id]  # no partial snapshot accepted
    assert backup.verify(repo).ok
    again = _snap(ws, repo)  # the next backup completes
    assert Repo.open(repo).snapshot_ids() == [first.snapshot_id, again.snapshot_id]


@pytest.mark.slow  # forks and kills a real restore process
def test_kill9_during_restore_leaves_no_workspace(ws, tmp_path) -> None:
    repo = tmp_path / "repo"
    _snap(ws, repo)
    target = tmp_path / "restored"
    _run_killed(_killed_restore, str(repo), str(target))
    assert not target.exists()
    with pytest.raises(Exception):
        Workspace.open(target)
    _restore_checked(repo, target)  # a later restore cleans the leftover and succeeds
    assert not list(tmp_path.glob(".restored.restore-*"))
