"""SQLAlchemy models of the audit log (hash-chained events, signed checkpoints) and of the
keyed subject index used by lineage.

Columns hold ids, refs, roles, outcomes and keyed hashes only: never personal data. The
audit log's hot paths (append, verify) use the driver directly on these tables; see
``privtune.audit.log``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from privtune.store.models import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(16))
    op: Mapped[str] = mapped_column(String(40), index=True)
    object: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))


class AuditCheckpointMeta(Base):
    """What a (v2) checkpoint signs besides the head: the previous checkpoint, so checkpoints
    form a chain of their own, and the vault heads (``name -> latest version``, canonical JSON)
    with their SHA-256. See ``privtune.audit.head``."""

    __tablename__ = "audit_checkpoint_meta"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_seq: Mapped[int] = mapped_column(BigInteger)
    heads_digest: Mapped[str] = mapped_column(String(64))
    heads: Mapped[str] = mapped_column(Text)


class SubjectIndex(Base):
    """``HMAC(subject key, employee id)`` -> vault object that holds that employee's data."""

    __tablename__ = "subject_index"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_ref: Mapped[str] = mapped_column(String(160), primary_key=True)
