"""Opening the metadata database: engine, schema creation, sessions, the schema 2 -> 3 migration.

A database that cannot be read or written (disk full, I/O error, unreadable file) raises
:class:`~privtune.errors.StorageError` saying so; only a database that answers but lacks the
tables is "no privtune schema". ``row_key`` (set by the workspace once it can derive it)
authenticates the rows of ``rowmac.AUTHENTICATED_TABLES``; every session carries it
(``privtune.store.rowmac``).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from privtune.errors import StorageError, WorkspaceError
from privtune.store import rowmac
from privtune.store.models import MIGRATABLE_FROM, SCHEMA_VERSION, Base, Meta


class MetadataStore:
    """A SQLAlchemy engine plus a session factory; ``create()`` makes the schema."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        try:
            self.engine: Engine = create_engine(db_url, future=True)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise WorkspaceError(f"cannot open metadata database ({type(exc).__name__})") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, future=True)
        self._row_key: rowmac.RowKey | None = None
        self._row_key_value: bytes | None = None

    def set_row_key(self, source: rowmac.RowKey | None) -> None:
        """The callable giving the row-MAC key (called once, on the first authenticated row)."""
        self._row_key, self._row_key_value = source, None

    def _cached_row_key(self) -> bytes:
        if self._row_key_value is None:
            if self._row_key is None:  # pragma: no cover - the session has no key then
                raise WorkspaceError("no row key")
            self._row_key_value = self._row_key()
        return self._row_key_value

    def create(self) -> None:
        Base.metadata.create_all(self.engine)
        with self.session() as s:
            if s.get(Meta, "schema_version") is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))

    def check(self) -> int:
        """The schema version; WorkspaceError unless it exists and is one we read or migrate."""
        try:
            with self.session() as s:
                row = s.get(Meta, "schema_version")
        except StorageError:
            raise
        except SQLAlchemyError as exc:
            if _missing_table(exc):
                raise WorkspaceError("metadata database has no privtune schema") from None
            raise WorkspaceError(
                f"cannot read the metadata database ({type(exc).__name__})") from None
        if row is None or int(row.value) > SCHEMA_VERSION:
            raise WorkspaceError("metadata database schema is missing or newer than this privtune")
        if int(row.value) < MIGRATABLE_FROM:
            raise WorkspaceError(
                f"metadata database schema {row.value} predates the encrypted vault (schema "
                f"{MIGRATABLE_FROM}); create a new workspace and ingest the data again"
            )
        # Tables added within a schema version (no column changes) are created on first open.
        from privtune.store.audit_models import AuditCheckpointMeta

        AuditCheckpointMeta.__table__.create(self.engine, checkfirst=True)  # type: ignore[attr-defined]
        return int(row.value)

    def migrate_row_macs(self) -> int:
        """Schema 2 -> 3: add the ``mac`` column to every authenticated table and seal each row.

        Needs the row key. Trusts the rows as they are: the workspace runs it once, when the
        passphrase holder first opens a schema-2 workspace. Returns the number of rows sealed."""
        insp = inspect(self.engine)
        with self.engine.begin() as conn:
            for name in sorted(rowmac.AUTHENTICATED_TABLES):
                if not insp.has_table(name):
                    continue
                if rowmac.MAC_COLUMN in {c["name"] for c in insp.get_columns(name)}:
                    continue
                conn.execute(text(f'ALTER TABLE "{name}" ADD COLUMN {rowmac.MAC_COLUMN} '
                                  "VARCHAR(64) NOT NULL DEFAULT ''"))
        with self.session() as s:
            n = rowmac.seal_all(s, Base)
            row = s.get(Meta, "schema_version")
            if row is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            else:
                row.value = str(SCHEMA_VERSION)
        return n

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Meta, key)
            return None if row is None else row.value

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            row = s.get(Meta, key)
            if row is None:
                s.add(Meta(key=key, value=value))
            else:
                row.value = value

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self._sessions()
        if self._row_key is not None:
            s.info[rowmac.ROW_KEY_INFO] = self._cached_row_key
        try:
            yield s
            s.commit()
        except BaseException as exc:
            try:
                s.rollback()
            except SQLAlchemyError:  # pragma: no cover - the connection itself is gone
                pass
            storage = storage_error(exc)
            if storage is not None:
                raise storage from None
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver callback
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# SQLite result codes (sqlite3.Error.sqlite_errorcode & 0xff) and PostgreSQL SQLSTATEs that mean
# the storage under the database failed, not the schema.
_SQLITE_STORAGE = {5: "database is locked", 8: "read-only database or file system",
                   10: "disk I/O error", 11: "database file is damaged", 13: "disk is full",
                   14: "cannot open the database file", 26: "file is not a database"}
_PG_STORAGE = {"53100": "disk is full", "58030": "disk I/O error", "53200": "out of memory"}
_ERRNO_STORAGE = {errno.ENOSPC: "disk is full", errno.EIO: "disk I/O error",
                  errno.EROFS: "read-only file system", errno.EDQUOT: "disk quota exceeded"}


def storage_error(exc: BaseException) -> StorageError | None:
    """A :class:`StorageError` naming the failure when ``exc`` is one of the storage's, else None."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _ERRNO_STORAGE:
        return StorageError(f"metadata database: {_ERRNO_STORAGE[exc.errno]}")
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_STORAGE:
        return StorageError(f"metadata database: {_SQLITE_STORAGE[code & 0xFF]}")
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state in _PG_STORAGE:
        return StorageError(f"metadata database: {_PG_STORAGE[state]}")
    if isinstance(orig, OSError) and orig.errno in _ERRNO_STORAGE:
        return StorageError(f"metadata database: {_ERRNO_STORAGE[orig.errno]}")
    return None


def _missing_table(exc: SQLAlchemyError) -> bool:
    """True when the database answered that a table does not exist (SQLite or PostgreSQL)."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state == "42P01":  # undefined_table
        return True
    return "no such table" in str(orig or exc).lower()
