"""The privacy ledger: epsilon charged to the people, per source export, against one budget.

A run is charged to the **source exports** of its training set: the lineage roots of the
people it descends from, found by walking the vault manifests' parents up to the objects that
have none, and keeping those that hold people (the objects ingest put in the subject index;
without an index, every root that is not a key or a model). A source is a root's *name*: every
version of ``employees`` is a later export of the same people. So training, retraining after
an erasure, synthetic data, reference models and federated rounds made from the same export
all draw on one budget, whatever the dataset they train on is called. A source is also linked
to every other root that shares a person with it in the subject index: a run on either is
counted against both (one hop is enough: any earlier run that touched a person of this run
touched a root that holds that person).

Spending over a source and everything linked to it is summed (basic composition: epsilons and
deltas add up; a conservative bound). The budget is the one set for the source (``privtune dp
budget``; the smallest over the linked sources), else the workspace default
(:data:`~privtune.store.ledger_models.DEFAULT_BUDGET_EPSILON`, ``dp_budget_epsilon`` in
``privtune.yaml``), capped by the run's ``dp.budget_epsilon``.

:func:`admit` checks and reserves in **one transaction**: it first takes the store's write lock
(an UPDATE of the ledger's schema row: SQLite's RESERVED lock, a row lock on PostgreSQL), then
reads what was spent and writes the reservation, so two concurrent runs cannot both fit into
the same remaining budget. A run past the budget raises :class:`PrivacyPolicyError` (exit 8)
before it starts, with the budget left. A run without DP is recorded as unbounded: refused on
a source with a budget set (or a ``dp.budget_epsilon``); under the default budget alone it is
allowed and listed, and not summed (its model is not private at all, the gate refuses to
release it). :func:`settle` replaces the planned epsilon by the epsilon actually spent (early
stopping spends less; a run stopped by an error or Ctrl-C is settled at the epsilon of the DP
steps it completed; one killed outright stays charged at its plan).

Reading the ledger needs ``metadata.read``, setting a budget ``budget.write``, reserving
``model.write``: each through ``check`` (``Guard.check``), which writes the audit event first.
"""

from __future__ import annotations

import hmac
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from weakref import WeakSet

from sqlalchemy import MetaData, Table, inspect, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased

from privtune.access.roles import KIND_CATEGORY
from privtune.audit.api import Check
from privtune.errors import ConfigError, InputError, PrivacyPolicyError, WorkspaceError
from privtune.errors import IntegrityError as RowIntegrityError
from privtune.store import rowmac
from privtune.store.audit_models import SubjectIndex
from privtune.store.db import MetadataStore
from privtune.store.ledger_models import (
    DEFAULT_BUDGET_EPSILON,
    LEDGER_SCHEMA_KEY,
    LEDGER_SCHEMA_VERSION,
    MAX_BUDGET_EPSILON,
    LedgerCharge,
    LedgerEntry,
    SourceBudget,
)
from privtune.store.models import Base, Meta, ObjectVersion, utcnow
from privtune.vault.objects import parse_ref

__all__ = ["DEFAULT_BUDGET_EPSILON", "LEDGER_OBJECT", "Admission", "BudgetChange", "LedgerEntry",
           "Spent", "admit", "ensure", "entries", "report", "set_budget", "settle", "sources_of", "spent"]

TOLERANCE = 1e-9
LEDGER_OBJECT = "privacy-ledger"
LEGACY_BUDGETS = "privacy_budgets"  # ledger schema 1: one budget per dataset name
NOT_PEOPLE = {"key", "model", "policy"}  # root kinds that hold no one's data

_READY: WeakSet[MetadataStore] = WeakSet()


@dataclass(frozen=True)
class Spent:
    """What the runs charged to ``source`` (and every source linked to it) spent."""

    source: str
    epsilon: float            # DP runs, summed
    delta: float
    runs: int                 # DP runs
    nonprivate_runs: int      # runs without DP (unbounded, never released)
    budget: float             # the budget that applies (set, else the workspace default)
    budget_set: bool          # True: set by `privtune dp budget`; False: the default
    linked: tuple[str, ...] = ()

    @property
    def left(self) -> float:
        return max(0.0, self.budget - self.epsilon)


@dataclass(frozen=True)
class Admission:
    run_id: str
    sources: tuple[str, ...]
    before: Spent      # the tightest standing before this run
    budget: float      # the budget applied (with dp.budget_epsilon)


@dataclass(frozen=True)
class BudgetChange:
    source: str
    epsilon: float
    previous: float | None
    spent: float
    warnings: tuple[str, ...] = field(default_factory=tuple)


# schema and migration -----------------------------------------------------------------------

def ensure(store: MetadataStore) -> None:
    """Create the ledger's tables if missing and migrate a schema-1 ledger (once per store)."""
    if store in _READY:
        return
    tables = [Base.metadata.tables[t.__tablename__] for t in (LedgerEntry, LedgerCharge, SourceBudget)]
    try:
        Base.metadata.create_all(store.engine, tables=tables)
    except OperationalError:  # a concurrent first use created them between check and create
        Base.metadata.create_all(store.engine, tables=tables)
    version = store.get_meta(LEDGER_SCHEMA_KEY)
    if version is None:
        _migrate_v1(store)
    elif not version.isdigit() or int(version) > LEDGER_SCHEMA_VERSION:
        raise WorkspaceError(f"privacy ledger schema {version} is newer than this privtune reads "
                             f"({LEDGER_SCHEMA_VERSION})")
    _READY.add(store)


def _migrate_v1(store: MetadataStore) -> None:
    """Schema 1 -> 2: charge every recorded run to its sources; move each dataset-name budget
    to its sources (the smaller wins); drop ``privacy_budgets``. One transaction; the schema
    row is inserted first, so a concurrent migrator waits for it and then finds it done."""
    legacy = inspect(store.engine).has_table(LEGACY_BUDGETS)
    try:
        with store.session() as s:
            s.add(Meta(key=LEDGER_SCHEMA_KEY, value=str(LEDGER_SCHEMA_VERSION)))
            s.flush()
            graph = _Manifests(s)
            charged = {c.entry_id for c in s.scalars(select(LedgerCharge))}
            for e in s.scalars(select(LedgerEntry)):
                if e.id not in charged:
                    s.add_all(LedgerCharge(entry_id=e.id, source=src)
                              for src in graph.sources(e.dataset_ref))
            if legacy:
                for name, eps in _legacy_budgets(s):
                    for src in graph.sources(name):
                        row = s.get(SourceBudget, src)
                        if row is None:
                            s.add(SourceBudget(source=src, epsilon=float(eps), set_by="migrated"))
                            s.flush()
                        else:
                            row.epsilon = min(row.epsilon, float(eps))
                s.execute(text("DROP TABLE privacy_budgets"))
    except IntegrityError:
        return  # another process migrated first


def _legacy_budgets(s: Session) -> list[tuple[str, float]]:
    """The rows of schema 1's ``privacy_budgets``; when the store's 2 -> 3 migration sealed
    them (a ``mac`` column), each row's MAC is checked first: an edited budget is refused."""
    table = Table(LEGACY_BUDGETS, MetaData(), autoload_with=s.connection())
    out = []
    for r in s.execute(select(table)):
        values = dict(r._mapping)
        if rowmac.MAC_COLUMN in values:
            stored = values.pop(rowmac.MAC_COLUMN)
            expected = rowmac.compute(rowmac.row_key(s, LEGACY_BUDGETS), LEGACY_BUDGETS, values)
            if not isinstance(stored, str) or not hmac.compare_digest(stored, expected):
                raise RowIntegrityError(
                    f"row {values.get('dataset', '?')} of table '{LEGACY_BUDGETS}' failed its "
                    "integrity check (changed outside privtune, or written without the "
                    "workspace key)")
        out.append((str(values["dataset"]), float(values["epsilon"])))
    return out


def _lock(s: Session) -> None:
    """Take the store's write lock before reading anything (first statement of the session)."""
    s.execute(update(Meta).where(Meta.key == LEDGER_SCHEMA_KEY).values(value=Meta.value))


# sources: the lineage roots of the people ---------------------------------------------------

def _name(ref: str) -> str:
    return ref.partition("@")[0]


class _Manifests:
    """Every manifest's kind and parents, and which objects the subject index names."""

    def __init__(self, s: Session) -> None:
        self.kind: dict[str, str] = {}
        self.parents: dict[str, list[str]] = {}
        self.latest: dict[str, int] = {}
        for m in s.scalars(select(ObjectVersion)):  # whole rows: each one's MAC is checked
            ref = f"{m.name}@{m.version}"
            self.kind[ref], self.parents[ref] = m.kind, [str(p) for p in m.parents or []]
            self.latest[m.name] = max(m.version, self.latest.get(m.name, 0))
        self.indexed = set(s.scalars(select(SubjectIndex.object_ref).distinct()))

    def resolve(self, target: str) -> str | None:
        ref = parse_ref(target)
        if ref.version is None:
            v = self.latest.get(ref.name)
            return None if v is None else f"{ref.name}@{v}"
        return str(ref) if str(ref) in self.kind else None

    def sources(self, target: str) -> list[str]:
        """The source names of ``target`` (a ref or name; one not in the vault is its own)."""
        start = self.resolve(target)
        if start is None:
            return [parse_ref(target).name]
        roots: list[str] = []
        seen, todo = {start}, deque([start])
        while todo:
            ref = todo.popleft()
            ups = self.parents.get(ref, [])
            if not ups:
                roots.append(ref)
            for p in ups:
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        people = [r for r in roots if r in self.indexed]
        if not people:  # no subject index: every root that is not a key or a model
            people = [r for r in roots
                      if KIND_CATEGORY.get(self.kind.get(r, ""), "data") not in NOT_PEOPLE]
        return sorted({_name(r) for r in people or roots})


def _linked(s: Session, sources: Iterable[str]) -> set[str]:
    """``sources`` plus every object name that shares a person with one of them."""
    names = set(sources)
    mine = [r for r in s.scalars(select(SubjectIndex.object_ref).distinct()) if _name(r) in names]
    if not mine:
        return names
    a, b = aliased(SubjectIndex), aliased(SubjectIndex)
    other = s.scalars(select(b.object_ref).distinct().join(a, a.subject == b.subject)
                      .where(a.object_ref.in_(mine)))
    return names | {_name(r) for r in other}


def _standing(s: Session, source: str, group: set[str], default_budget: float) -> Spent:
    # whole rows, never bare columns: a row's MAC is checked only when the ORM loads it
    ids = {c.entry_id for c in s.scalars(select(LedgerCharge).where(LedgerCharge.source.in_(group)))}
    rows = list(s.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(ids)))) if ids else []
    dp_rows = [r for r in rows if r.epsilon is not None]
    set_budgets = [b.epsilon for b in s.scalars(select(SourceBudget)
                                                .where(SourceBudget.source.in_(group)))]
    return Spent(source, sum(r.epsilon or 0.0 for r in dp_rows), sum(r.delta for r in dp_rows),
                 len(dp_rows), len(rows) - len(dp_rows),
                 min(set_budgets) if set_budgets else float(default_budget), bool(set_budgets),
                 tuple(sorted(group - {source})))


def _target_sources(s: Session, target: str) -> list[str]:
    """A source name, or a dataset ref / name resolved to its sources."""
    graph = _Manifests(s)
    if graph.resolve(target) is None:
        known = {c.source for c in s.scalars(select(LedgerCharge))} | \
            {b.source for b in s.scalars(select(SourceBudget))}
        name = parse_ref(target).name
        if name not in known:
            raise InputError(f"no object or source export '{name}' in this workspace",
                             field="dataset")
        return [name]
    return graph.sources(target)


def sources_of(store: MetadataStore, target: str) -> list[str]:
    """The source exports a dataset ref (or name) descends from (metadata only, no check)."""
    with store.session() as s:
        return _Manifests(s).sources(target)


# the guarded entry points -------------------------------------------------------------------

def spent(check: Check, store: MetadataStore, target: str,
          default_budget: float = DEFAULT_BUDGET_EPSILON) -> list[Spent]:
    """The standing of each source of ``target`` (a source, or a dataset ref resolved to its
    sources). Needs ``metadata.read``."""
    parse_ref(target)
    check("metadata.read", LEDGER_OBJECT, target=target)
    ensure(store)
    with store.session() as s:
        return [_standing(s, src, _linked(s, [src]), default_budget)
                for src in _target_sources(s, target)]


def entries(check: Check, store: MetadataStore, target: str | None = None
            ) -> list[tuple[LedgerEntry, tuple[str, ...]]]:
    """Every run in the ledger with the sources it was charged to (only those charged to the
    sources of ``target``, or sources linked to them, when given). Needs ``metadata.read``."""
    return report(check, store, target)[0]


def report(check: Check, store: MetadataStore, target: str | None = None,
           default_budget: float = DEFAULT_BUDGET_EPSILON
           ) -> tuple[list[tuple[LedgerEntry, tuple[str, ...]]], list[Spent]]:
    """The runs (as :func:`entries`) and the standing of every source they were charged to
    (and of ``target``'s sources), with one ``metadata.read`` check."""
    if target:
        parse_ref(target)
    check("metadata.read", LEDGER_OBJECT, target=target or "")
    ensure(store)
    with store.session() as s:
        charges: dict[int, list[str]] = {}
        for c in s.scalars(select(LedgerCharge)):
            charges.setdefault(c.entry_id, []).append(c.source)
        rows = list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))
        wanted: set[str] = set()
        if target:
            wanted = set(_target_sources(s, target))
            group = set().union(*(_linked(s, [src]) for src in wanted))
            rows = [r for r in rows if group & set(charges.get(r.id, []))]
        sources = sorted(wanted | {src for r in rows for src in charges.get(r.id, [])})
        standing = [_standing(s, src, _linked(s, [src]), default_budget) for src in sources]
    return [(r, tuple(sorted(charges.get(r.id, [])))) for r in rows], standing


def set_budget(check: Check, store: MetadataStore, target: str, epsilon: float, *,
               force: bool = False, default_budget: float = DEFAULT_BUDGET_EPSILON) -> list[BudgetChange]:
    """Set the budget of every source of ``target``. Needs ``budget.write``. A budget below
    what a source has already spent is refused (PrivacyPolicyError) unless ``force``; forced,
    it is set with a warning (no further DP run on the source is admitted)."""
    parse_ref(target)
    who = check("budget.write", LEDGER_OBJECT, target=target, force=force,
                epsilon=float(epsilon) if math.isfinite(epsilon) else str(epsilon))
    if not (epsilon > 0 and math.isfinite(epsilon)) or epsilon > MAX_BUDGET_EPSILON:
        raise ConfigError(f"a privacy budget must be a positive epsilon of at most "
                          f"{MAX_BUDGET_EPSILON:g}", key="epsilon")
    actor = str(getattr(who, "user_id", "") or "")
    ensure(store)
    out: list[BudgetChange] = []
    with store.session() as s:
        _lock(s)
        for src in _target_sources(s, target):
            st = _standing(s, src, _linked(s, [src]), default_budget)
            warnings: tuple[str, ...] = ()
            if st.epsilon > epsilon + TOLERANCE:
                msg = (f"budget {epsilon:g} of source export '{src}' is below the epsilon "
                       f"{st.epsilon:.4g} already spent by {st.runs} run(s)")
                if not force:
                    raise PrivacyPolicyError(f"{msg}; nothing was changed (--force sets it, and "
                                             "then no further DP run on it is admitted)")
                warnings = (f"{msg}: no further DP run on it will be admitted",)
            row = s.get(SourceBudget, src)
            previous = None if row is None else row.epsilon
            if row is None:
                s.add(SourceBudget(source=src, epsilon=float(epsilon), set_by=actor))
            else:
                row.epsilon, row.set_by, row.set_at = float(epsilon), actor, utcnow()
            out.append(BudgetChange(src, float(epsilon), previous, st.epsilon, warnings))
    return out


def admit(check: Check, store: MetadataStore, run_id: str, dataset_ref: str,
          epsilon: float | None, delta: float, unit: str = "", accountant: str = "", *,
          default_budget: float = DEFAULT_BUDGET_EPSILON,
          config_budget: float | None = None) -> Admission:
    """Check the budget and reserve ``epsilon`` (None: no DP) for ``run_id`` in one
    transaction; raise PrivacyPolicyError, with the budget left, when the run does not fit.
    Needs ``model.write`` (the event records the run, its dataset and its epsilon)."""
    check("model.write", LEDGER_OBJECT, action="reserve", run=run_id, dataset=dataset_ref,
          epsilon=epsilon if epsilon is not None else "unbounded")
    ensure(store)
    with store.session() as s:
        _lock(s)
        sources = _Manifests(s).sources(dataset_ref)
        standings = [_standing(s, src, _linked(s, [src]), default_budget) for src in sources]
        worst = min(standings, key=lambda st: st.budget - st.epsilon)
        budget = worst.budget if config_budget is None else min(worst.budget, config_budget)
        strict = [st for st in standings if st.budget_set]
        if epsilon is None and (strict or config_budget is not None):
            src = (strict[0] if strict else worst).source
            raise PrivacyPolicyError(
                f"source export '{src}' of dataset '{dataset_ref}' has a privacy budget: training "
                "on it without differential privacy is refused; set dp.enabled=true")
        if epsilon is not None:
            for st in standings:
                cap = st.budget if config_budget is None else min(st.budget, config_budget)
                if st.epsilon + epsilon > cap + TOLERANCE:
                    raise PrivacyPolicyError(
                        f"privacy budget of source export '{st.source}' (dataset "
                        f"'{dataset_ref}') exceeded: epsilon {st.epsilon:.4g} spent by "
                        f"{st.runs} run(s), {max(0.0, cap - st.epsilon):.4g} left of budget "
                        f"{cap:g}, this run plans {epsilon:.4g}; the run was not started")
        entry = LedgerEntry(run_id=run_id, dataset=_name(dataset_ref), dataset_ref=dataset_ref,
                            epsilon=epsilon, delta=delta, unit=unit, accountant=accountant,
                            status="running")
        s.add(entry)
        s.flush()
        s.add_all(LedgerCharge(entry_id=entry.id, source=src) for src in sources)
    return Admission(run_id, tuple(sources), worst, budget)


def charged_entries(store: MetadataStore, run_prefix: str) -> int:
    """How many ledger entries whose run id starts with ``run_prefix`` charged an epsilon (in
    any status: a failed entry keeps its charge). Metadata only, no check: for a caller whose
    own check already covers the run (a federated site's round, under ``federated.train``)."""
    ensure(store)
    with store.session() as s:
        rows = s.scalars(select(LedgerEntry).where(
            LedgerEntry.run_id.startswith(run_prefix, autoescape=True)))
        return sum(1 for r in rows if r.epsilon is not None)


def settle(store: MetadataStore, run_id: str, status: str, epsilon: float | None = None) -> None:
    """Close an admitted run's entry; ``epsilon`` (when given) replaces the planned figure if
    smaller. Called by the run that :func:`admit` admitted (its check covered this write)."""
    ensure(store)
    with store.session() as s:
        for row in s.scalars(select(LedgerEntry).where(LedgerEntry.run_id == run_id)):
            row.status = status
            if epsilon is not None and row.epsilon is not None:
                row.epsilon = min(row.epsilon, float(epsilon))
