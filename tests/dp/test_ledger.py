"""The privacy ledger charges the people: budgets per source export (the lineage root of the
people), one check-and-reserve transaction, a default budget from init, guarded and audited
reads and writes, and the migration of a schema-1 ledger."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect, select, text

from privtune.access import admin
from privtune.dp import ledger
from privtune.errors import ConfigError, InputError, PermissionDenied, PrivacyPolicyError
from privtune.store import MetadataStore
from privtune.store.audit_models import AuditEvent
from privtune.store.ledger_models import (
    DEFAULT_BUDGET_EPSILON,
    LEDGER_SCHEMA_KEY,
    LedgerCharge,
    LedgerEntry,
    SourceBudget,
)
from privtune.store.models import Base, Meta
from privtune.vault.wskeys import ROW_MAC_LABEL
from privtune.workspace import CONFIG_FILE, Workspace

IDS = [f"E{i:03d}" for i in range(20)]


def _allow(op: str, obj: str = "", **detail: object) -> None:
    return None


def _export(ws: Workspace, suffix: str = "") -> dict[str, str]:
    """An ingested export (indexed in the subject index) and what the pipeline makes of it."""
    refs = {}
    refs["employees"] = ws.vault.put("employees", b"table" + suffix.encode(), kind="table")
    ws.subjects().index(refs["employees"], IDS)
    refs["reviews"] = ws.vault.put("reviews", b"texts" + suffix.encode(), kind="texts")
    ws.subjects().index(refs["reviews"], IDS[:10])
    refs["policies"] = ws.vault.put("policies", b"{}", kind="texts")  # holds no one
    key = ws.vault.resolve("pseudonym-key")
    refs["deid"] = ws.vault.put("employees-deid", b"d", kind="table",
                                parents=[refs["employees"], key])
    refs["rdeid"] = ws.vault.put("reviews-deid", b"r", kind="texts",
                                 parents=[refs["reviews"], refs["employees"], key])
    refs["trainset"] = ws.vault.put("trainset", b"t", kind="examples",
                                    parents=[refs["deid"], refs["rdeid"], refs["policies"]])
    return refs


def _store(ws: Workspace) -> MetadataStore:
    """Another connection to ``ws``'s database holding the row key, as the workspace gives it
    (another process that unlocked the vault): the ledger's rows carry row MACs."""
    store = MetadataStore(ws.store.db_url)
    store.set_row_key(lambda: ws.keys.subkey(ROW_MAC_LABEL))
    return store


def _admit(ws: Workspace, run: str, ref: str, eps: float | None, **kw):
    return ledger.admit(ws.access.check, ws.store, run, ref, eps, 1e-5 if eps else 0.0,
                        "employee", "prv", default_budget=ws.config.dp_budget_epsilon, **kw)


# sources --------------------------------------------------------------------------------------

def test_a_dataset_is_charged_to_the_exports_of_its_people(workspace) -> None:
    refs = _export(workspace)
    # the roots that hold people; not the policies, not the pseudonym key
    assert ledger.sources_of(workspace.store, refs["trainset"]) == ["employees", "reviews"]
    assert ledger.sources_of(workspace.store, "employees-deid") == ["employees"]
    # a dataset put by hand, with no lineage and no subject index, is its own source
    workspace.vault.put("handmade", b"x", kind="examples")
    assert ledger.sources_of(workspace.store, "handmade") == ["handmade"]


def test_same_people_under_another_dataset_name_share_one_budget(workspace) -> None:
    """Attack (issue 14 finding 4): the ledger summed epsilon per dataset name, so the same
    people under another name (a synthetic table, a retrained set) started a fresh budget."""
    refs = _export(workspace)
    synth = workspace.vault.put("synthetic-employees", b"s", kind="table", parents=[refs["deid"]])
    retrain = workspace.vault.put("trainset-retrained", b"t2", kind="examples",
                                  parents=[refs["deid"]])
    _admit(workspace, "r1", refs["trainset"], 6.0)
    for other in (synth, retrain):
        with pytest.raises(PrivacyPolicyError, match=r"'employees'.*4 left of budget 10"):
            _admit(workspace, f"r-{other}", other, 6.0)
    _admit(workspace, "r2", synth, 4.0)  # what is left still fits
    with pytest.raises(PrivacyPolicyError, match="0 left"):
        _admit(workspace, "r3", retrain, 0.5)


def test_a_new_export_of_the_same_table_is_the_same_source(workspace) -> None:
    refs = _export(workspace)
    _admit(workspace, "r1", refs["trainset"], 8.0)
    again = _export(workspace, suffix="-v2")  # employees@2, the next month's export
    assert again["employees"] == "employees@2"
    with pytest.raises(PrivacyPolicyError, match="budget of source export 'employees'"):
        _admit(workspace, "r2", again["trainset"], 8.0)


def test_exports_that_share_people_are_linked_by_the_subject_index(workspace) -> None:
    refs = _export(workspace)
    staff = workspace.vault.put("staff-export", b"other system", kind="table")
    workspace.subjects().index(staff, IDS[5:8])  # three of the same people, another name
    _admit(workspace, "r1", refs["trainset"], 8.0)
    with pytest.raises(PrivacyPolicyError, match="source export 'staff-export'"):
        _admit(workspace, "r2", staff, 8.0)
    # an export with no one in common is a fresh budget
    other = workspace.vault.put("contractors", b"c", kind="table")
    workspace.subjects().index(other, ["C1", "C2"])
    _admit(workspace, "r3", other, 8.0)


# one transaction ------------------------------------------------------------------------------

@pytest.mark.slow  # seconds of work (a training run, a subprocess, a property search or a big input)
def test_concurrent_runs_past_the_budget_exactly_one_is_admitted(workspace, monkeypatch) -> None:
    """Attack: check and reserve were two transactions; two runs could both read 'nothing
    spent' and both start. Six runs of epsilon 6 against the default budget 10, each on its own
    connection to the one SQLite workspace, the read slowed down to widen the window."""
    refs = _export(workspace)
    ledger.ensure(workspace.store)
    real = ledger._standing

    def slow(*args, **kwargs):
        out = real(*args, **kwargs)
        time.sleep(0.2)  # between reading the spend and writing the reservation
        return out

    monkeypatch.setattr(ledger, "_standing", slow)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def go(i: int) -> None:
        store = _store(workspace)
        try:
            barrier.wait()
            ledger.admit(_allow, store, f"run-{i}", refs["trainset"], 6.0, 1e-5,
                         default_budget=DEFAULT_BUDGET_EPSILON)
            outcomes.append("admitted")
        except PrivacyPolicyError:
            outcomes.append("refused")
        except Exception as exc:  # any other failure fails the assertion below
            outcomes.append(type(exc).__name__)
        finally:
            store.dispose()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["admitted"] + ["refused"] * 5
    with workspace.store.session() as s:
        assert len(s.scalars(select(LedgerEntry)).all()) == 1


# the default budget, the refusals -------------------------------------------------------------

def test_init_writes_the_default_budget_and_the_config_overrides_it(workspace) -> None:
    cfg = yaml.safe_load((workspace.root / CONFIG_FILE).read_text())
    assert cfg["dp_budget_epsilon"] == DEFAULT_BUDGET_EPSILON == 10.0
    refs = _export(workspace)
    _admit(workspace, "r1", refs["trainset"], 8.0)
    with pytest.raises(PrivacyPolicyError) as err:
        _admit(workspace, "r2", refs["trainset"], 8.0)
    msg = str(err.value)
    assert "2 left of budget 10" in msg and "not started" in msg and "plans 8" in msg
    cfg["dp_budget_epsilon"] = 20.0
    (workspace.root / CONFIG_FILE).write_text(yaml.safe_dump(cfg))
    with Workspace.open(workspace.root, principal=workspace.principal) as ws2:
        _admit(ws2, "r2", refs["trainset"], 8.0)
        # the run's own dp.budget_epsilon caps tighter
        with pytest.raises(PrivacyPolicyError, match="budget 17"):
            _admit(ws2, "r3", refs["trainset"], 2.0, config_budget=17.0)


def test_a_run_without_dp_under_the_default_and_under_a_set_budget(workspace) -> None:
    refs = _export(workspace)
    # default budget only: the non-private baseline may run (never released), not summed
    _admit(workspace, "plain", refs["trainset"], None)
    _admit(workspace, "dp", refs["trainset"], 8.0)
    (sp_emp, _sp_rev) = ledger.spent(workspace.access.check, workspace.store, "trainset")
    assert (sp_emp.source, sp_emp.epsilon, sp_emp.runs, sp_emp.nonprivate_runs) == \
        ("employees", 8.0, 1, 1)
    assert sp_emp.budget_set is False and sp_emp.left == pytest.approx(2.0)
    # a budget set for the source forbids training on it without DP
    ledger.set_budget(workspace.access.check, workspace.store, "employees", 9.0)
    with pytest.raises(PrivacyPolicyError, match="without differential privacy"):
        _admit(workspace, "plain2", refs["trainset"], None)
    with pytest.raises(PrivacyPolicyError, match="without differential privacy"):
        _admit(workspace, "plain3", refs["deid"], None)  # any dataset of the same people


def test_setting_a_budget_below_the_spend_needs_force(workspace) -> None:
    refs = _export(workspace)
    _admit(workspace, "r1", refs["trainset"], 6.0)
    with pytest.raises(PrivacyPolicyError, match=r"below the epsilon 6 already spent.*--force"):
        ledger.set_budget(workspace.access.check, workspace.store, "trainset", 5.0)
    with workspace.store.session() as s:
        assert s.scalars(select(SourceBudget)).all() == []  # nothing changed
    changes = ledger.set_budget(workspace.access.check, workspace.store, "trainset", 5.0,
                                force=True)
    assert {c.source for c in changes} == {"employees", "reviews"}
    assert all(c.warnings and "no further DP run" in c.warnings[0] for c in changes)
    with pytest.raises(PrivacyPolicyError, match="0 left of budget 5"):
        _admit(workspace, "r2", refs["trainset"], 0.1)


@pytest.mark.parametrize("eps", [0.0, -1.0, float("inf"), float("nan"), 1e300])
def test_absurd_budgets_are_refused(workspace, eps: float) -> None:
    _export(workspace)
    with pytest.raises(ConfigError, match="budget"):
        ledger.set_budget(workspace.access.check, workspace.store, "employees", eps)


def test_unknown_target_is_an_input_error(workspace) -> None:
    with pytest.raises(InputError, match="no object or source export 'nosuch'"):
        ledger.spent(workspace.access.check, workspace.store, "nosuch")


# guarded and audited --------------------------------------------------------------------------

def _events(ws: Workspace, since: int) -> list[AuditEvent]:
    with ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > since)
                              .order_by(AuditEvent.seq)))


def _seq(ws: Workspace) -> int:
    with ws.store.session() as s:
        return max(s.scalars(select(AuditEvent.seq)).all() or [0])


def test_budget_and_ledger_calls_are_guarded_and_audited(workspace) -> None:
    """Attack (issue 16 finding 2): `dp budget trainset --epsilon 1e300` was stored with no API
    key and no audit event; `dp ledger` had no check either."""
    _export(workspace)
    keys = {r: admin.add_user(workspace.access, workspace.store, f"u-{r}", r)
            for r in ("viewer", "ml-engineer", "data-steward")}
    root = workspace.root
    with Workspace.open(root) as anon:  # no identity
        before = _seq(anon)
        with pytest.raises(PermissionDenied, match="no identity"):
            ledger.set_budget(anon.access.check, anon.store, "employees", 5.0)
        with pytest.raises(PermissionDenied, match="no identity"):
            ledger.report(anon.access.check, anon.store)
        assert [(e.op, e.outcome) for e in _events(anon, before)] == \
            [("budget.write", "deny"), ("metadata.read", "deny")]
    for role, may_set in (("viewer", False), ("ml-engineer", False), ("data-steward", True)):
        with Workspace.open(root, api_key=keys[role].secret) as ws:
            before = _seq(ws)
            if may_set:
                ledger.set_budget(ws.access.check, ws.store, "employees", 5.0)
            else:
                with pytest.raises(PermissionDenied, match=f"role {role} may not budget.write"):
                    ledger.set_budget(ws.access.check, ws.store, "employees", 5.0)
            ledger.report(ws.access.check, ws.store, "employees")   # reading: every role
            ledger.spent(ws.access.check, ws.store, "employees")
            evs = _events(ws, before)
            assert [(e.op, e.outcome, e.object) for e in evs] == [
                ("budget.write", "allow" if may_set else "deny", "privacy-ledger"),
                ("metadata.read", "allow", "privacy-ledger"),
                ("metadata.read", "allow", "privacy-ledger")]
            assert all(e.actor == keys[role].user_id for e in evs)
            assert '"epsilon":5.0' in evs[0].detail.replace(" ", "")
    with workspace.store.session() as s:
        row = s.get(SourceBudget, "employees")
        assert row is not None and row.epsilon == 5.0 and row.set_by == keys["data-steward"].user_id


def test_a_reservation_is_audited_with_its_epsilon(workspace) -> None:
    refs = _export(workspace)
    before = _seq(workspace)
    _admit(workspace, "run-x", refs["trainset"], 3.0)
    (ev,) = [e for e in _events(workspace, before) if e.object == "privacy-ledger"]
    assert ev.op == "model.write" and ev.outcome == "allow"
    assert '"run":"run-x"' in ev.detail.replace(" ", "") and '"epsilon":3.0' in ev.detail.replace(" ", "")


# migration ------------------------------------------------------------------------------------

def test_a_schema_1_ledger_is_migrated(workspace, tmp_path: Path) -> None:
    """Schema 1 charged runs to a dataset name and kept budgets per dataset name."""
    refs = _export(workspace)
    store = workspace.store
    with store.session() as s:  # what a schema-1 workspace holds
        s.execute(text("DELETE FROM store_meta WHERE key = :k"), {"k": LEDGER_SCHEMA_KEY})
        s.add(LedgerEntry(run_id="old-1", dataset="trainset", dataset_ref=refs["trainset"],
                          epsilon=4.0, delta=1e-4, unit="employee", accountant="prv",
                          status="done"))
        s.add(LedgerEntry(run_id="old-2", dataset="trainset", dataset_ref=refs["trainset"],
                          epsilon=None, delta=0.0, status="done"))
        s.execute(text("CREATE TABLE privacy_budgets (dataset VARCHAR(128) PRIMARY KEY, "
                       "epsilon FLOAT, set_at DATETIME)"))
        s.execute(text("INSERT INTO privacy_budgets VALUES ('trainset', 7.0, NULL), "
                       "('gone', 3.0, NULL)"))
    fresh = _store(workspace)  # another process opening the old workspace
    try:
        ledger.ensure(fresh)
        assert fresh.get_meta(LEDGER_SCHEMA_KEY) == "2"
        assert not inspect(fresh.engine).has_table("privacy_budgets")
        with fresh.session() as s:
            charges = {(c.entry_id, c.source) for c in s.scalars(select(LedgerCharge))}
            ids = {e.run_id: e.id for e in s.scalars(select(LedgerEntry))}
            budgets = {b.source: b.epsilon for b in s.scalars(select(SourceBudget))}
        assert charges == {(ids["old-1"], "employees"), (ids["old-1"], "reviews"),
                           (ids["old-2"], "employees"), (ids["old-2"], "reviews")}
        assert budgets == {"employees": 7.0, "reviews": 7.0, "gone": 3.0}
        (emp, _rev) = ledger.spent(_allow, fresh, "trainset")
        assert (emp.epsilon, emp.runs, emp.nonprivate_runs, emp.budget) == (4.0, 1, 1, 7.0)
        ledger.ensure(fresh)  # idempotent
    finally:
        fresh.dispose()


def test_an_edited_sealed_schema_1_budget_is_refused_by_the_migration(workspace) -> None:
    """A schema-1 ledger sealed by the store's 2 -> 3 migration: a budget raised in the
    database afterwards is not carried over into the new tables; the migration refuses it."""
    from privtune.errors import IntegrityError
    from privtune.store import rowmac

    _export(workspace)
    store = workspace.store
    with store.session() as s:
        s.execute(text("DELETE FROM store_meta WHERE key = :k"), {"k": LEDGER_SCHEMA_KEY})
        s.execute(text("CREATE TABLE privacy_budgets (dataset VARCHAR(128) PRIMARY KEY, "
                       "epsilon FLOAT, set_at DATETIME, mac VARCHAR(64) NOT NULL DEFAULT '')"))
        s.execute(text("INSERT INTO privacy_budgets (dataset, epsilon, set_at) "
                       "VALUES ('trainset', 1.0, NULL)"))
        rowmac.seal_all(s, Base, reflect_all=True)
    with store.engine.begin() as c:  # the attacker
        c.execute(text("UPDATE privacy_budgets SET epsilon = 1e300 WHERE dataset = 'trainset'"))
    fresh = _store(workspace)
    try:
        with pytest.raises(IntegrityError, match="'privacy_budgets'"):
            ledger.ensure(fresh)
        assert fresh.get_meta(LEDGER_SCHEMA_KEY) is None  # nothing migrated
        assert inspect(fresh.engine).has_table("privacy_budgets")
    finally:
        fresh.dispose()


def test_a_newer_ledger_schema_is_refused(workspace) -> None:
    from privtune.errors import WorkspaceError

    with workspace.store.session() as s:
        row = s.get(Meta, LEDGER_SCHEMA_KEY)
        if row is None:
            s.add(Meta(key=LEDGER_SCHEMA_KEY, value="99"))
        else:
            row.value = "99"
    fresh = MetadataStore(workspace.store.db_url)
    try:
        with pytest.raises(WorkspaceError, match="privacy ledger schema 99"):
            ledger.ensure(fresh)
    finally:
        fresh.dispose()
