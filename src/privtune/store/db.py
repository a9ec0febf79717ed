"""Opening the metadata database: engine, schema creation, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from privtune.errors import WorkspaceError
from privtune.store.models import SCHEMA_VERSION, Base, Meta


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

    def create(self) -> None:
        Base.metadata.create_all(self.engine)
        with self.session() as s:
            if s.get(Meta, "schema_version") is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))

    def check(self) -> None:
        """Raise WorkspaceError unless the schema exists and is of a version we read."""
        try:
            with self.session() as s:
                row = s.get(Meta, "schema_version")
        except SQLAlchemyError:
            raise WorkspaceError("metadata database has no privtune schema") from None
        if row is None or int(row.value) > SCHEMA_VERSION:
            raise WorkspaceError("metadata database schema is missing or newer than this privtune")
        if int(row.value) < SCHEMA_VERSION:
            raise WorkspaceError(
                f"metadata database schema {row.value} predates the encrypted vault (schema "
                f"{SCHEMA_VERSION}); create a new workspace and ingest the data again"
            )
        # Tables added within a schema version (no column changes) are created on first open.
        from privtune.store.audit_models import AuditCheckpointMeta

        AuditCheckpointMeta.__table__.create(self.engine, checkfirst=True)  # type: ignore[attr-defined]

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
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
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
