"""Issue 16, finding 2, for the library: every public entry point goes through the guard.

The entry points are found by walking the ``privtune`` packages for public functions whose first
parameter is the caller's capability (a ``Workspace``, a ``Guard`` or guard ``check``, a
``GateSite``); each is called as a ``viewer`` and with no identity in a scratch workspace and
must be refused with a deny event, or succeed having been allowed only read-only operations.
A new entry point without a call below (``CALLS``), or a helper without its reason
(``HELPERS``), fails ``test_the_inventory_is_complete``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import privtune
from privtune.access import admin
from privtune.anonymity.gate import META_KEY
from privtune.audit import api as audit_api
from privtune.audit.query import EventFilter
from privtune.dp import ledger
from privtune.errors import PermissionDenied
from privtune.gate.adapters import ADAPTER_SCHEMA
from privtune.gate.audit import run_audit
from privtune.gate.policy import GatePolicy, load_policy
from privtune.gate.registry import change_state, check_registered, list_releases
from privtune.gate.release import release
from privtune.gate.workspace_policy import set_policy, view_policy
from privtune.models.loading import model_dir_hash
from privtune.pipeline.adapters import export_adapter, generate_batch
from privtune.pipeline.audit import audit_stage
from privtune.pipeline.base_model import prepare_base
from privtune.pipeline.config import DatasetSpec, ModelSection, PipelineConfig
from privtune.pipeline.dataset import build_dataset
from privtune.pipeline.deid import deidentify, scan
from privtune.pipeline.ingest import ingest_export
from privtune.pipeline.run import run_stages
from privtune.pipeline.site import gate_site
from privtune.pipeline.train import TrainedAdapter, evaluate_adapter, train_adapter
from privtune.records import AdapterRecord, BaseModelRef
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace, init_workspace

CAPABILITY = ("Workspace", "Guard", "Check", "GateSite")

#: Public functions taking a capability that are not entry points, and why.
HELPERS = {
    "privtune.pipeline.site.gate_site": "hands the workspace's parts to the gate; does nothing",
    "privtune.pipeline.base_model.pretraining_texts": "prepare_base's helper, called after its "
                                                      "guard; reads policies through the vault",
    "privtune.gate.release.check_releasable": "release's predicate, called after release's "
                                              "guarded adapter read",
    "privtune.gate.release.check_against_policy": "release's policy predicate, called after "
                                                  "release's release.approve check",
    "privtune.gate.release.write_bundle": "release's writer: takes a registry row only release "
                                          "(release.approve, audited) creates; reads through the "
                                          "guarded vault",
}


def _entry_points() -> set[str]:
    found = set()
    for m in pkgutil.walk_packages(privtune.__path__, "privtune."):
        if m.name.startswith(("privtune.cli", "privtune.devtools", "privtune.__main__")):
            continue
        mod = importlib.import_module(m.name)
        for name, fn in vars(mod).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != mod.__name__:
                continue
            params = list(inspect.signature(fn).parameters.values())
            if params and str(params[0].annotation).split(".")[-1] in CAPABILITY:
                found.add(f"{m.name}.{name}")
    return found


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("entry-points")
    root = base / "ws"
    ws = init_workspace(root)
    viewer = admin.add_user(ws.access, ws.store, "v", "viewer").secret
    ws.vault.put("employees", b"employee_id\nE00001\n", kind="table")
    ws.vault.put("employees-deid", b"x", kind="table", meta={META_KEY: {"ok": True}})
    ws.vault.put("trainset", b"{}\n", kind="examples")
    ws.vault.put("valset", b"{}\n", kind="examples")
    bdir = base / "basedir"
    bdir.mkdir()
    (bdir / "config.json").write_text("{}")
    (bdir / "model.safetensors").write_bytes(b"never read")
    record = AdapterRecord(train={}, train_data="trainset@1", val_data="valset@1",
                           base_model=str(bdir), base_model_sha256=model_dir_hash(bdir),
                           privacy={"dp": False},
                           metrics={"initial_val_loss": 1.0, "final_val_loss": 1.0},
                           checkpoints=[])
    (base / "adir").mkdir()
    (base / "adir" / "adapter_config.json").write_text("{}")
    ws.vault.put_dir("adapter", base / "adir", kind="adapter", schema=ADAPTER_SCHEMA,
                     meta=record.to_dict())
    ws.close()
    export = base / "export"
    export.mkdir()
    (export / "employees.csv").write_text("employee_id,first_name\nE00001,Ann\n")
    bref = BaseModelRef(dir=bdir, sha256=model_dir_hash(bdir), kind="local", trained_on="test")
    return {"root": root, "viewer": viewer, "base": base, "export": export, "bref": bref,
            "record": record}


def _unregistered(ws: Workspace) -> None:
    """check_registered on a release the scratch registry does not know: refused after the check."""
    from privtune.errors import PrivacyPolicyError

    with pytest.raises(PrivacyPolicyError, match="not in this workspace's release registry"):
        check_registered(gate_site(ws), "rel-x", "adapter@1")


def _calls(sc: dict[str, Any]) -> dict[str, Callable[[Workspace], Any]]:
    msg = [[{"role": "user", "content": "hi"}]]
    pol = load_policy(None)
    return {
        "privtune.access.admin.add_user": lambda ws: admin.add_user(ws.access, ws.store, "n", "admin"),
        "privtune.access.admin.issue_key": lambda ws: admin.issue_key(ws.access, ws.store, "v"),
        "privtune.access.admin.revoke_key": lambda ws: admin.revoke_key(ws.access, ws.store,
                                                                        "0123456789ab"),
        "privtune.access.admin.set_role": lambda ws: admin.set_role(ws.access, ws.store, "v", "admin"),
        "privtune.access.admin.list_users": lambda ws: admin.list_users(ws.access, ws.store),
        "privtune.access.admin.set_lockdown": lambda ws: admin.set_lockdown(ws.access, ws.store, True),
        "privtune.audit.api.verify": lambda ws: audit_api.verify(ws.guard, ws.audit, ws.root),
        "privtune.audit.api.show": lambda ws: audit_api.show(ws.guard, ws.store, EventFilter()),
        "privtune.audit.api.export": lambda ws: audit_api.export(ws.guard, ws.store, "jsonl",
                                                                 EventFilter()),
        "privtune.audit.api.checkpoint": lambda ws: audit_api.checkpoint(ws.guard, ws.audit),
        "privtune.dp.ledger.spent": lambda ws: ledger.spent(ws.access.check, ws.store, "employees"),
        "privtune.dp.ledger.entries": lambda ws: ledger.entries(ws.access.check, ws.store),
        "privtune.dp.ledger.report": lambda ws: ledger.report(ws.access.check, ws.store,
                                                              "trainset@1"),
        "privtune.dp.ledger.set_budget": lambda ws: ledger.set_budget(ws.access.check, ws.store,
                                                                      "employees", 1e300),
        "privtune.dp.ledger.admit": lambda ws: ledger.admit(ws.access.check, ws.store, "run-x",
                                                            "trainset@1", 1e300, 1e-5),
        "privtune.gate.audit.run_audit": lambda ws: run_audit(gate_site(ws), "adapter", None, pol),
        "privtune.gate.release.release": lambda ws: release(gate_site(ws), "adapter",
                                                            sc["base"] / "rel"),
        "privtune.gate.registry.change_state": lambda ws: change_state(gate_site(ws), "adapter",
                                                                       "revoked", "test"),
        "privtune.gate.registry.list_releases": lambda ws: list_releases(gate_site(ws)),
        "privtune.gate.registry.check_registered": lambda ws: _unregistered(ws),
        "privtune.gate.workspace_policy.view_policy": lambda ws: view_policy(gate_site(ws)),
        "privtune.gate.workspace_policy.set_policy": lambda ws: set_policy(gate_site(ws), GatePolicy()),
        "privtune.pipeline.adapters.generate_batch": lambda ws: generate_batch(ws, "adapter", msg),
        "privtune.pipeline.adapters.export_adapter": lambda ws: export_adapter(ws, "adapter",
                                                                               sc["base"] / "exp"),
        "privtune.pipeline.audit.audit_stage": lambda ws: audit_stage(gate_site(ws), "adapter",
                                                                      PipelineConfig().audit, pol),
        "privtune.pipeline.base_model.prepare_base": lambda ws: prepare_base(
            ws, ModelSection(), policies_ref=None),
        "privtune.pipeline.dataset.build_dataset": lambda ws: build_dataset(
            ws, {"employees": "employees-deid@1"}, None, DatasetSpec()),
        "privtune.pipeline.deid.scan": lambda ws: scan(ws, {"employees": "employees@1"}, None),
        "privtune.pipeline.deid.deidentify": lambda ws: deidentify(ws, {"employees": "employees@1"},
                                                                   None),
        "privtune.pipeline.ingest.ingest_export": lambda ws: ingest_export(ws, sc["export"]),
        "privtune.pipeline.run.run_stages": lambda ws: run_stages(ws, PipelineConfig(), sc["export"]),
        "privtune.pipeline.train.train_adapter": lambda ws: train_adapter(
            ws, sc["bref"], "trainset@1", "valset@1", PipelineConfig().train),
        "privtune.pipeline.train.evaluate_adapter": lambda ws: evaluate_adapter(
            ws, sc["bref"], TrainedAdapter("adapter@1", sc["record"], [])),
    }


def test_the_inventory_is_complete(scratch) -> None:
    found = _entry_points()
    assert len(found) >= 20
    missing = found - set(_calls(scratch)) - set(HELPERS)
    assert not missing, f"new library entry points: add a call (CALLS) or a reason (HELPERS): {missing}"
    stale = (set(_calls(scratch)) | set(HELPERS)) - found
    assert not stale, f"entry points no longer found: {stale}"


def _head(root: Path) -> int:
    with Workspace.open(root) as ws, ws.store.session() as s:
        return s.scalar(select(func.max(AuditEvent.seq))) or 0


def _events(root: Path, after: int) -> list[AuditEvent]:
    with Workspace.open(root) as ws, ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after)
                              .order_by(AuditEvent.seq)))


ENTRY_POINTS = sorted(_entry_points() - set(HELPERS))


@pytest.mark.parametrize("who", ["viewer", "nobody"])
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_is_guarded_and_audited(name: str, who: str, scratch) -> None:
    root = scratch["root"]
    call = _calls(scratch)[name]
    before = _head(root)
    key = scratch["viewer"] if who == "viewer" else None
    with Workspace.open(root, api_key=key) as ws:
        try:
            call(ws)
            refused = False
        except PermissionDenied:
            refused = True
    events = _events(root, before)
    role = "viewer" if who == "viewer" else "-"
    assert events, f"{name} ran without an audit event"
    assert all(e.role == role for e in events)
    done = events[:-1] if refused else events
    if refused:
        assert events[-1].outcome == "deny"
    assert all(e.outcome == "allow" and e.op == "metadata.read" for e in done), \
        [(e.op, e.outcome) for e in events]
