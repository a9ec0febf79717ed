"""SQLAlchemy model of data-subject requests (erasure): a queue of requests, each named by a
random request id only.

A row holds the request id, its state, who filed and who approved it (user ids), the batch that
executed it and the refs, counts and hashes of what was done (``plan``): never the person's
identifiers. Which person a request is about lives only in the vault object
``subject-request-<id>`` (encrypted), handed to the requester when it is filed and crypto-shredded
when the request completes. Rows are row-MAC'd (``privtune.store.rowmac``): a DB writer cannot
approve a request or move its state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, String
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from privtune.store.models import Base, utcnow


class SubjectRequest(Base):
    __tablename__ = "subject_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="erase")
    #: queued -> approved -> running (steps in ``step``) -> done; queued -> rejected
    state: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    step: Mapped[str] = mapped_column(String(16), default="")
    requested_by: Mapped[str] = mapped_column(String(40), default="")
    requested_role: Mapped[str] = mapped_column(String(32), default="")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_by: Mapped[str] = mapped_column(String(40), default="")
    approved_role: Mapped[str] = mapped_column(String(32), default="")
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    batch: Mapped[str] = mapped_column(String(40), default="", index=True)
    plan: Mapped[dict] = mapped_column(JSON, default=dict)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RetentionHold(Base):
    """A legal hold on an object name (every version) or one version (``name@v``): while
    ``active`` it blocks retention expiry. Row-MAC'd: a DB writer cannot release a hold (a
    deleted row is not detected here; the hold and its release are in the audit log)."""

    __tablename__ = "retention_holds"

    target: Mapped[str] = mapped_column(String(160), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    held_by: Mapped[str] = mapped_column(String(40), default="")
    held_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_by: Mapped[str] = mapped_column(String(40), default="")
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def ensure_subject_tables(engine: Engine) -> None:
    """Create the tables in a workspace made before they existed (idempotent)."""
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[SubjectRequest.__tablename__],
                                             Base.metadata.tables[RetentionHold.__tablename__]])
