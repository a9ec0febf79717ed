"""SQLAlchemy models of the metadata store (SQLite by default, PostgreSQL by ``db_url``).

The store holds *metadata only*: object references, hashes, sizes, lineage parents, run configs
and metrics. Never personal data: rows name objects, not people.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from privtune.store import rowmac

#: 2: encrypted vault (keks, data_keys, ciphertext hashes); 3: row MACs (``store/rowmac.py``)
#: and wrapped workspace keys; a schema-2 store is migrated when the workspace is opened.
SCHEMA_VERSION = 3
MIGRATABLE_FROM = 2


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The store's declarative base. A table named in ``rowmac.AUTHENTICATED_TABLES`` gets a
    ``mac`` column here, whichever module declares it, and its rows are MAC'd and checked."""

    def __init_subclass__(cls, **kw: object) -> None:
        if getattr(cls, "__tablename__", None) in rowmac.AUTHENTICATED_TABLES and \
                rowmac.MAC_COLUMN not in cls.__dict__:
            setattr(cls, rowmac.MAC_COLUMN, mapped_column(String(64), default=""))
        super().__init_subclass__(**kw)


rowmac.install(Base)


class ObjectVersion(Base):
    """One immutable version of a named vault object (``name@version``)."""

    __tablename__ = "object_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_object_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    relpath: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    schema: Mapped[str] = mapped_column(String(64), default="")
    creator: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    parents: Mapped[list] = mapped_column(JSON, default=list)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    ct_sha256: Mapped[str] = mapped_column(String(64), default="")
    ct_size: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class Kek(Base):
    """One version of the key-encryption key: provider, public parameters, check value.

    The KEK itself is never stored: it is derived from a secret or held by a Transit engine.
    """

    __tablename__ = "keks"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    check: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | old | retired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DataKey(Base):
    """The wrapped data key of one object version; ``wrapped`` is NULL once shredded."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_data_key_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kek_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Run(Base):
    """A pipeline run (pre-training, fine-tuning, the demo): config in, metrics out."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    outputs: Mapped[list] = mapped_column(JSON, default=list)


class Meta(Base):
    """Key/value facts about the store itself (schema version, creation time)."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Audit(Base):
    """A privacy audit of one model version: its verdict (numbers only) and the hashes it binds."""

    __tablename__ = "audits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), index=True)
    model_ref: Mapped[str] = mapped_column(String(160), index=True)
    model_sha256: Mapped[str] = mapped_column(String(64))
    base_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    verdict_sha256: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[dict] = mapped_column(JSON, default=dict)
    report: Mapped[str] = mapped_column(String(512), default="")
