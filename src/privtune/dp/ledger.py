"""The privacy ledger: epsilon spent per training-set version, and per-dataset budgets.

Two tables in the metadata store (a :class:`~privtune.store.MetadataStore`, every function's
first argument; created on first use, so older workspaces get them too): ``privacy_ledger``
has one row per training run on a dataset version (``epsilon`` NULL for a run **without** DP:
unbounded), ``privacy_budgets`` one epsilon budget per dataset
name. Every version of a dataset is about the same employees, so spending is summed over all
versions of its name (basic composition: epsilons and deltas add up; a conservative bound).

:func:`check_budget` runs before a run starts and raises :class:`PrivacyPolicyError` (exit 8)
when the run's planned epsilon would take the dataset past its budget (the tighter of the
workspace budget and ``dp.budget_epsilon``); a run without DP is refused on any dataset that
has a budget. :func:`reserve` charges the planned epsilon when the run starts; :func:`settle`
replaces it by the epsilon actually spent when it ends (early stopping spends less). A run
that fails stays charged at its planned epsilon: its checkpoints may exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from privtune.errors import ConfigError, PrivacyPolicyError
from privtune.store.db import MetadataStore
from privtune.store.models import Base, utcnow
from privtune.vault.objects import parse_ref

TOLERANCE = 1e-9


class LedgerEntry(Base):
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


class Budget(Base):
    __tablename__ = "privacy_budgets"

    dataset: Mapped[str] = mapped_column(String(128), primary_key=True)
    epsilon: Mapped[float] = mapped_column(Float)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Spent:
    dataset: str
    epsilon: float  # inf when a non-private run used the dataset
    delta: float
    runs: int
    budget: float | None


def _ensure(store: MetadataStore) -> None:
    tables = [Base.metadata.tables[t.__tablename__] for t in (LedgerEntry, Budget)]
    Base.metadata.create_all(store.engine, tables=tables)


def dataset_name(ref: str) -> str:
    return parse_ref(ref).name


def set_budget(store: MetadataStore, dataset: str, epsilon: float) -> None:
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ConfigError("a privacy budget must be a positive, finite epsilon", key="epsilon")
    _ensure(store)
    name = dataset_name(dataset) if "@" in dataset else dataset
    with store.session() as s:
        row = s.get(Budget, name)
        if row is None:
            s.add(Budget(dataset=name, epsilon=float(epsilon)))
        else:
            row.epsilon, row.set_at = float(epsilon), utcnow()


def spent(store: MetadataStore, dataset: str) -> Spent:
    """What every recorded run has spent on ``dataset`` (a name, or a ref: its name counts)."""
    _ensure(store)
    name = dataset_name(dataset) if "@" in dataset else dataset
    with store.session() as s:
        rows = s.scalars(select(LedgerEntry).where(LedgerEntry.dataset == name)).all()
        budget = s.get(Budget, name)
    eps = sum(math.inf if r.epsilon is None else r.epsilon for r in rows)
    return Spent(name, eps, sum(r.delta for r in rows), len(rows),
                 budget.epsilon if budget is not None else None)


def entries(store: MetadataStore, dataset: str | None = None) -> list[LedgerEntry]:
    _ensure(store)
    with store.session() as s:
        q = select(LedgerEntry).order_by(LedgerEntry.id)
        if dataset:
            q = q.where(LedgerEntry.dataset == (dataset_name(dataset) if "@" in dataset else dataset))
        return list(s.scalars(q).all())


def check_budget(store: MetadataStore, dataset_ref: str, epsilon: float | None,
                 config_budget: float | None = None) -> Spent:
    """Refuse (PrivacyPolicyError) a run spending ``epsilon`` (None: no DP) on the dataset of
    ``dataset_ref`` when that would exceed its budget. Returns what was spent before."""
    before = spent(store, dataset_ref)
    budgets = [b for b in (before.budget, config_budget) if b is not None]
    if not budgets:
        return before
    budget = min(budgets)
    if epsilon is None:
        raise PrivacyPolicyError(
            f"dataset '{before.dataset}' has a privacy budget (epsilon {budget:g}): training on "
            "it without differential privacy is refused; set dp.enabled=true")
    total = before.epsilon + epsilon
    if total > budget + TOLERANCE:
        raise PrivacyPolicyError(
            f"privacy budget of dataset '{before.dataset}' exceeded: epsilon {before.epsilon:.4g} "
            f"spent by {before.runs} run(s) + {epsilon:.4g} planned > budget {budget:g}; the run "
            "was not started")
    return before


def reserve(store: MetadataStore, run_id: str, dataset_ref: str, epsilon: float | None, delta: float,
            unit: str, accountant: str) -> None:
    _ensure(store)
    with store.session() as s:
        s.add(LedgerEntry(run_id=run_id, dataset=dataset_name(dataset_ref),
                          dataset_ref=dataset_ref, epsilon=epsilon, delta=delta, unit=unit,
                          accountant=accountant, status="running"))


def settle(store: MetadataStore, run_id: str, status: str, epsilon: float | None = None) -> None:
    """Close a run's entry; ``epsilon`` (when given) replaces the planned figure."""
    _ensure(store)
    with store.session() as s:
        for row in s.scalars(select(LedgerEntry).where(LedgerEntry.run_id == run_id)):
            row.status = status
            if epsilon is not None and row.epsilon is not None:
                row.epsilon = min(row.epsilon, float(epsilon))
