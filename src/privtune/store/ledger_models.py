"""SQLAlchemy models of the privacy ledger: what each training run spent, charged to the source
exports of the people it trained on, and the budget of each source export.

A *source export* is a lineage root that holds people's data (an ingested table or text set,
by name: every version of ``employees`` is a later export of the same people). The logic is in
:mod:`privtune.dp.ledger`; these tables hold run ids, object names, epsilons and deltas only.

The ledger has its own schema version (``store_meta`` key :data:`LEDGER_SCHEMA_KEY`), so it can
migrate its rows without touching the store's: version 1 kept budgets per dataset name
(``privacy_budgets``) and charged a run to its dataset's name; version 2 charges every run to
its source exports (``privacy_charges``) and keeps budgets per source
(``privacy_source_budgets``). :func:`privtune.dp.ledger.ensure` migrates on first use.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from privtune.store.models import Base, utcnow

#: Epsilon every source export may spend over all DP runs unless a budget is set for it
#: (``privtune dp budget``) or the workspace config overrides it (``dp_budget_epsilon``).
DEFAULT_BUDGET_EPSILON = 10.0
#: The largest budget that may be set: beyond it epsilon bounds nothing a person would notice.
MAX_BUDGET_EPSILON = 100.0
LEDGER_SCHEMA_VERSION = 2
LEDGER_SCHEMA_KEY = "privacy_ledger_schema"


class LedgerEntry(Base):
    """One training run on one dataset version (``epsilon`` NULL: a run without DP)."""

    __tablename__ = "privacy_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    dataset_ref: Mapped[str] = mapped_column(String(160))
    epsilon: Mapped[float | None] = mapped_column(Float, nullable=True)  # NULL: not private
    delta: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str] = mapped_column(String(16), default="")
    accountant: Mapped[str] = mapped_column(String(8), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerCharge(Base):
    """A run's entry charged to one source export (a run on several exports has several)."""

    __tablename__ = "privacy_charges"

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class SourceBudget(Base):
    """The epsilon budget of one source export, set by ``privtune dp budget``."""

    __tablename__ = "privacy_source_budgets"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    epsilon: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(40), default="")
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
