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

from sqlalchemy import JSON, DateTime, String
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


def ensure_subject_tables(engine: Engine) -> None:
    """Create the table in a workspace made before it existed (idempotent)."""
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[SubjectRequest.__tablename__]])
