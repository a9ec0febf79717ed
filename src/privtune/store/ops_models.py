"""SQLAlchemy models of security operations: incidents and access alerts (issue 20).

``incidents`` and ``alerts`` are row-MAC'd (``privtune.store.rowmac``): its rows decide whether exports are
frozen and carry the dates the breach notification's 72-hour deadline is computed from, so a DB
writer without the workspace key can neither thaw exports nor move ``aware_at``. Rows hold ids,
dates, counts and short operator-written lines (never personal data: the CLI says so).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from privtune.store.models import Base, utcnow


class Incident(Base):
    """One security incident: opened (with when the controller became aware), locked down,
    reported (GDPR Art. 33 / 34 drafts) and closed with its lessons learned."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | contained | closed
    summary: Mapped[str] = mapped_column(String(200), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    objects: Mapped[list] = mapped_column(JSON, default=list)  # affected refs ([]: every object)
    aware_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(40), default="")
    exports_frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    measures: Mapped[dict] = mapped_column(JSON, default=dict)  # what the lockdown did (counts)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str] = mapped_column(String(40), default="")
    lessons: Mapped[str] = mapped_column(Text, default="")


class AlertRow(Base):
    """One access-anomaly alert (``privtune.ops.detect``): rule, key, window, score, the figures
    that tripped it, and its acknowledgement. Row-MAC'd: an acknowledgement cannot be forged."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dedup: Mapped[str] = mapped_column(String(200), unique=True)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(40), index=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | acked
    acked_by: Mapped[str] = mapped_column(String(40), default="")
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")


def ensure_ops_tables(engine: Engine) -> None:
    """Create the incidents and alerts tables in a workspace made before they existed
    (idempotent)."""
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in ("incidents",
                                                                               "alerts")])
