"""SQLAlchemy model of the backup repositories a workspace has written to.

``privtune backup create`` (and ``drill``) record each repository here before they write to it,
so that an erasure can reach every copy of the data (``privtune.pipeline.erasure``, step
``shred``). A row holds the repository's absolute path, its random id and when it was first and
last written: no passphrase, no key. Rows are row-MAC'd (``privtune.store.rowmac``): a DB writer
cannot remove a repository from the list to keep a shredded version restorable unnoticed (a
deleted row is not detected: a MAC gives no freshness).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from privtune.store.models import Base, utcnow


class BackupRepoRecord(Base):
    __tablename__ = "backup_repos"

    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    repo_id: Mapped[str] = mapped_column(String(64), default="")
    first_written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def ensure_backup_tables(engine: Engine) -> None:
    """Create the table in a workspace made before it existed (idempotent)."""
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[BackupRepoRecord.__tablename__]])
