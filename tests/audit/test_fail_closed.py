"""Fail closed: when the audit event cannot be written, the operation is refused and nothing
changes (no new version, no payload file, no data returned)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select, text

from privtune.audit.log import AuditLog
from privtune.errors import AuditWriteFailed, PermissionDenied
from privtune.store.models import ObjectVersion


def _state(ws):
    with ws.store.session() as s:
        n = s.scalar(select(func.count()).select_from(ObjectVersion))
    files = sorted(p.relative_to(ws.root) for p in (ws.root / "vault").rglob("*"))
    return n, files


@pytest.fixture()
def broken_log(monkeypatch):
    def fail(self, batch):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(AuditLog, "_append_batch", fail)


def test_write_refused_and_nothing_changed(workspace, broken_log) -> None:
    before = _state(workspace)
    with pytest.raises(AuditWriteFailed, match="operation refused"):
        workspace.vault.put("employees", b"E1,Alice", kind="table")
    assert _state(workspace) == before
    assert isinstance(AuditWriteFailed("x"), PermissionDenied)


def test_read_refused(workspace, monkeypatch) -> None:
    workspace.vault.put("employees", b"secret rows", kind="table")
    monkeypatch.setattr(AuditLog, "_append_batch", lambda self, b: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(AuditWriteFailed):
        workspace.vault.get("employees")
    with pytest.raises(AuditWriteFailed):
        workspace.pseudonym_key()


def test_missing_audit_table_refuses_and_rolls_back(workspace) -> None:
    before = _state(workspace)
    workspace.audit.close()
    with workspace.store.engine.begin() as c:
        c.execute(text("DROP TABLE audit_events"))
    with pytest.raises(AuditWriteFailed):
        workspace.vault.put("leave", b"x", kind="table")
    assert _state(workspace) == before
    with pytest.raises(AuditWriteFailed):  # nor can the session's head be signed at close
        workspace.close()


def test_locked_database_refuses(workspace, monkeypatch) -> None:
    """Another process holds the write lock past the busy timeout: refused, not queued forever."""
    import privtune.audit.log as auditlog

    monkeypatch.setattr(auditlog, "SQLITE_BUSY_MS", 200)
    workspace.audit.close()
    blocker = sqlite3.connect(workspace.root / "metadata.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        before = _state(workspace)
        with pytest.raises(AuditWriteFailed):
            workspace.vault.put("reviews", b"x", kind="texts")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _state(workspace) == before
    workspace.vault.put("reviews", b"x", kind="texts")  # and works again once the lock is gone


def test_control_characters_in_fields_are_refused(workspace) -> None:
    with pytest.raises(AuditWriteFailed):
        workspace.guard("metadata.read", "bad\nobject")


def test_cli_reports_one_line_and_exit_7(tmp_path, monkeypatch, capsys) -> None:
    from privtune.cli.main import run

    assert run(["init", str(tmp_path / "w")]) == 0
    capsys.readouterr()
    monkeypatch.setattr(AuditLog, "_append_batch", lambda self, b: (_ for _ in ()).throw(OSError("x")))
    assert run(["vault", "ls", "-w", str(tmp_path / "w")]) == 7
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "audit event could not be written" in err[0]
