"""SQLAlchemy models of the privacy gate's state: the release registry and the workspace's gate
policy (every version, the newest in force).

Plain tables of the store's ``Base``, so a row-level integrity check added to the store covers
them like the other security-relevant tables. Rows hold refs, hashes, ids, states and the policy's
thresholds: never personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from privtune.store.models import Base, utcnow


class ReleaseEntry(Base):
    """One release of one adapter version, and what became of it (released, revoked,
    quarantined). ``record`` is the signed :class:`~privtune.records.ReleaseRecord`: the bundle
    on disk is written from it."""

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), index=True)
    model_ref: Mapped[str] = mapped_column(String(160), index=True)
    adapter_sha256: Mapped[str] = mapped_column(String(64))
    audit_id: Mapped[str] = mapped_column(String(64))
    verdict_sha256: Mapped[str] = mapped_column(String(64))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    signer_key_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)  # released | revoked | quarantined
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_by: Mapped[str] = mapped_column(String(40), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    record: Mapped[dict] = mapped_column(JSON, default=dict)


class GatePolicyVersion(Base):
    """One version of the workspace's gate policy; the highest version is in force."""

    __tablename__ = "gate_policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))
    policy: Mapped[dict] = mapped_column(JSON, default=dict)
    set_by: Mapped[str] = mapped_column(String(40), default="")
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def ensure_gate_tables(engine: Engine) -> None:
    """Create the gate's tables in a workspace made before they existed (idempotent)."""
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[ReleaseEntry.__tablename__],
                                             Base.metadata.tables[GatePolicyVersion.__tablename__]])
