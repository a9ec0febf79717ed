"""A full or failing disk is told apart from a missing schema (issue 16, finding 11).

Before: every error while reading the schema version read "metadata database has no privtune
schema", so a full disk looked like a wrong directory; a write on a full disk crashed with an
untyped SQLAlchemy error (exit 70).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from privtune.errors import StorageError, WorkspaceError
from privtune.store import MetadataStore
from privtune.store.models import Meta
from privtune.workspace import Workspace


def _fail_with(store: MetadataStore, code: int, message: str) -> None:
    """Make every statement fail as SQLite does with result code ``code``."""

    def boom(*_args: object, **_kw: object) -> None:
        exc = sqlite3.OperationalError(message)
        exc.sqlite_errorcode = code  # what the sqlite3 module sets from the C result code
        exc.sqlite_errorname = "SQLITE_FULL" if code == 13 else "SQLITE_IOERR"
        raise exc

    event.listen(store.engine, "before_cursor_execute", boom)


@pytest.mark.parametrize(("code", "message", "says"), [
    (13, "database or disk is full", "disk is full"),
    (10, "disk I/O error", "disk I/O error"),
])
def test_full_or_failing_disk_is_a_storage_error_not_no_schema(
        tmp_path: Path, code: int, message: str, says: str) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    store.create()
    _fail_with(store, code, message)
    with pytest.raises(StorageError, match=says) as e:
        store.check()
    assert "schema" not in str(e.value)
    assert e.value.exit_code == WorkspaceError.exit_code
    store.dispose()


def test_write_on_a_full_disk_is_typed(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    store.create()
    _fail_with(store, 13, "database or disk is full")
    with pytest.raises(StorageError, match="disk is full"), store.session() as s:
        s.add(Meta(key="k", value="v"))
    store.dispose()


def test_empty_database_still_reads_no_schema(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "m.db").close()
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(WorkspaceError, match="no privtune schema") as e:
        store.check()
    assert not isinstance(e.value, StorageError)
    store.dispose()


def test_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "m.db").write_bytes(b"not a database, just bytes " * 100)
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(StorageError, match="not a database"):
        store.check()
    store.dispose()


def test_workspace_open_on_a_full_disk_names_the_disk(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    real_check = MetadataStore.check

    def check_on_full_disk(self: MetadataStore) -> None:
        _fail_with(self, 13, "database or disk is full")
        real_check(self)

    monkeypatch.setattr(MetadataStore, "check", check_on_full_disk)
    with pytest.raises(StorageError, match="disk is full"):
        Workspace.open(workspace.root)
