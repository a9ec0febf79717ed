"""Incident response (issue 20): open, lockdown, report, close; every step audited; every revoked
key refused by every command; breach figures match lineage on the synthetic company."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.access.apikeys import ENV_API_KEY
from privtune.cli.main import run
from privtune.errors import InputError, IntegrityError, PermissionDenied, PrivacyPolicyError
from privtune.gate.adapters import ADAPTER_SCHEMA
from privtune.gate.registry import entries, register
from privtune.models.loading import model_dir_hash
from privtune.ops import incident as inc
from privtune.pipeline.adapters import export_adapter
from privtune.pipeline.ingest import ingest_export
from privtune.pipeline.site import ops_site
from privtune.records import AdapterRecord, ReleaseRecord
from privtune.store.audit_models import AuditEvent, SubjectIndex
from privtune.store.ops_models import Incident
from privtune.synth import generate_company
from privtune.vault.keyring import forget_unlocked
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]
SHA = "ab" * 32


def _record(ref: str, rid: str) -> ReleaseRecord:
    return ReleaseRecord(model_ref=ref, adapter_sha256=SHA, files={"a": SHA}, base_sha256=SHA,
                         audit_id="audit-1", audit_sha256=SHA, audit_passed=True, dp=True,
                         epsilon=7.5, delta=1e-6, released_at="2026-01-01T00:00:00",
                         public_key="AAAA", release_id=rid, policy_sha256=SHA, profile="full",
                         signer_key_id="0123456789abcdef")


@pytest.fixture()
def team(workspace):
    ws = workspace
    keys = {r: admin.add_user(ws.access, ws.store, f"u-{r}", r) for r in
            ("data-steward", "ml-engineer", "auditor", "viewer", "dpo", "app", "break-glass")}
    base = ws.root.parent
    (base / "basedir").mkdir()
    (base / "basedir" / "config.json").write_text("{}")
    (base / "basedir" / "model.safetensors").write_bytes(b"never read")
    record = AdapterRecord(train={}, train_data="t@1", val_data="v@1",
                           base_model=str(base / "basedir"),
                           base_model_sha256=model_dir_hash(base / "basedir"),
                           privacy={"dp": False}, metrics={}, checkpoints=[])
    (base / "adir").mkdir()
    (base / "adir" / "adapter_config.json").write_text("{}")
    ref = ws.vault.put_dir("adapter", base / "adir", kind="adapter", schema=ADAPTER_SCHEMA,
                           meta=record.to_dict())
    register(ws.store, _record(ref, "rel-1"), "u-admin")
    return ws, keys


def _ops(ws) -> list[tuple[str, str, str]]:
    with ws.store.session() as s:
        return [(e.op, e.outcome, str(json.loads(e.detail or "{}").get("action", "")))
                for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_open_lockdown_report_close_every_step_audited(team, tmp_path) -> None:
    ws, keys = team
    site = ops_site(ws)
    aware = datetime.now(UTC) - timedelta(hours=10)
    row = inc.open_incident(site, "high", summary="laptop with a workspace copy stolen",
                            contact="dpo@example.org", aware_at=aware)
    assert row.status == "open" and abs((row.aware_at.replace(tzinfo=UTC) - aware).total_seconds()) < 1
    kek_before = ws.vault.keyring.active_version()
    m = inc.lockdown(site)
    assert m["keys_revoked"] == 7  # six roles' keys and the admin's own; break-glass kept
    assert m["kek_version"] == kek_before + 1 and m["kek_versions_retired"] == [kek_before]
    assert m["releases_quarantined"] == ["rel-1"]
    assert [e.state for e in entries(ws.store)] == ["quarantined"]
    assert inc.exports_frozen(ws.store) == row.id
    # the admin's own key is revoked: a new session with it is refused
    with pytest.raises(PermissionDenied):
        Workspace.open(ws.root, api_key=ADMIN_KEY)
    with Workspace.open(ws.root, api_key=keys["break-glass"].secret) as bg:
        bsite = ops_site(bg)
        with pytest.raises(PrivacyPolicyError, match="frozen"):
            export_adapter(bg, "adapter@1", tmp_path / "out", unaudited=True)
        path, text = inc.report(bsite, row.id)
        assert path.is_file() and "72 hours" in text and "Art. 34" in text
        assert "Required" in text  # high severity: communicate to the subjects
        assert f"{(aware + timedelta(hours=72)).isoformat(timespec='seconds')}" in text
        assert "h left" in text
        closed = inc.close_incident(bsite, None, "keep workspace copies off laptops")
        assert closed.status == "closed" and inc.exports_frozen(bg.store) is None
        ops = _ops(bg)
    steps = [(o, a) for o, outcome, a in ops if o == "incident.manage" and outcome == "allow"]
    assert [a for _, a in steps] == ["open", "lockdown", "contained", "report", "close"]
    for op in ("user.manage", "key.write", "release.approve", "lockdown.set"):
        assert (op, "allow") in {(o, out) for o, out, _ in ops}, op


def test_lockdown_needs_a_break_glass_key(workspace) -> None:
    site = ops_site(workspace)
    inc.open_incident(site, "low")
    with pytest.raises(InputError, match="break-glass"):
        inc.lockdown(site)
    assert admin.in_lockdown(workspace.store) is False


def test_only_incident_managers_may_act(team) -> None:
    ws, keys = team
    inc.open_incident(ops_site(ws), "medium")
    for role in ("viewer", "ml-engineer", "auditor", "data-steward"):
        with Workspace.open(ws.root, api_key=keys[role].secret) as w:
            with pytest.raises(PermissionDenied):
                inc.open_incident(ops_site(w), "low")
            with pytest.raises(PermissionDenied):
                inc.lockdown(ops_site(w))
    with Workspace.open(ws.root, api_key=keys["dpo"].secret) as w:  # the DPO reports
        inc.report(ops_site(w))
        with pytest.raises(PermissionDenied):  # but cannot revoke keys or rotate the KEK
            inc.lockdown(ops_site(w))


def test_report_says_late_after_72_hours_and_bad_input_is_refused(workspace) -> None:
    site = ops_site(workspace)
    row = inc.open_incident(site, "low", aware_at=datetime.now(UTC) - timedelta(hours=80))
    _, text = inc.report(site, row.id)
    assert "late" in text and "Probably not required" in text
    with pytest.raises(InputError):
        inc.open_incident(site, "apocalyptic")
    with pytest.raises(InputError):
        inc.open_incident(site, "low", summary="two\nlines")
    with pytest.raises(InputError):
        inc.close_incident(site, row.id, "  ")


def test_incident_rows_are_mac_d(workspace) -> None:
    row = inc.open_incident(ops_site(workspace), "high")
    with workspace.store.session() as s:
        s.get(Incident, row.id)
    import sqlite3

    conn = sqlite3.connect(workspace.root / "metadata.db")
    conn.execute("UPDATE incidents SET aware_at = '2020-01-01 00:00:00.000000'")
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityError, match="incidents"):
        inc.report(ops_site(workspace), row.id)


@pytest.mark.slow  # ingests the synthetic company
def test_breach_figures_match_lineage_on_the_synthetic_company(workspace, tmp_path) -> None:
    export = tmp_path / "export"
    generate_company(60, 7, export, fmt="csv")
    ingest_export(workspace, export)
    with open(export / "employees.csv", newline="") as fh:
        employees = {r["employee_id"] for r in csv.DictReader(fh)}
    with workspace.store.session() as s:
        rows = s.scalars(select(SubjectIndex)).all()
    site = ops_site(workspace)
    row = inc.open_incident(site, "critical")
    sc = inc.scope(workspace.store, workspace.vault, [])
    assert sc.subjects == len(employees) == len({r.subject for r in rows})
    assert sc.records == len(rows)
    _, text = inc.report(site, row.id)
    assert f"({len(employees)} data subjects" in text
    assert f"records concerned: {len(rows)} " in text
    # scoped to one source: only its subjects and records
    tickets = [r for r in rows if r.object_ref.startswith("tickets@")]
    if tickets:
        one = inc.scope(workspace.store, workspace.vault, [tickets[0].object_ref])
        assert one.records == len(tickets) and one.subjects == len({t.subject for t in tickets})
    for e in list(employees)[:5]:  # counts only: no employee id in the report
        assert e not in text


def _guarded_commands():
    spec = importlib.util.spec_from_file_location(
        "every_cmd", Path(__file__).resolve().parents[1] / "cli" / "test_every_command_guarded.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow  # runs every CLI command with every revoked key
def test_every_revoked_key_is_refused_by_every_command(team, tmp_path, monkeypatch) -> None:
    ws, keys = team
    root = ws.root
    inc.open_incident(ops_site(ws), "critical")
    inc.lockdown(ops_site(ws))
    ws.close()
    forget_unlocked()
    mod = _guarded_commands()
    (tmp_path / "p").write_text("hello\n")
    (tmp_path / "f").write_bytes(b"payload")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "employees.csv").write_text("employee_id,first_name\nE00001,Ann\n")
    config = Path(__file__).resolve().parents[2] / "configs" / "tiny-demo.yaml"
    values = {**{"export_dir": str(tmp_path / "export"), "config": str(config), "model": "adapter",
                 "prompts": str(tmp_path / "p"), "out": str(tmp_path / "o"), "name": "n",
                 "file": str(tmp_path / "f"), "ref": "adapter@1", "output": str(tmp_path / "g"),
                 "version": "1", "handle": "u-viewer", "role": "admin", "key_id": "0123456789ab",
                 "state": "off", "dataset": "d", "epsilon": "1", "target": "employees",
                 "obj": "adapter", "refs": "adapter@1", "repo": str(tmp_path / "r"),
                 "severity": "low", "lessons": "x", "alert_id": "al-0",
                 "subject": "E00001", "request": "erq-0123456789abcdef",
                 "directory": str(tmp_path / "release"), "field": "department", "value": "Finance"}}
    revoked = [k.secret for r, k in keys.items() if r != "break-glass"] + [ADMIN_KEY]
    with Workspace.open(root) as w, w.store.session() as s:
        before = len(s.scalars(select(AuditEvent)).all())
    with open(os.devnull) as null:
        monkeypatch.setattr("sys.stdin", null)
        for name in mod.GUARDED:
            argv = mod._argv(name, values, root)
            for key in revoked:
                monkeypatch.setenv(ENV_API_KEY, key)
                assert run(argv) == 7, f"`{name}` accepted a revoked key"
    with Workspace.open(root) as w, w.store.session() as s:
        new = s.scalars(select(AuditEvent).where(AuditEvent.seq > before)).all()
    assert len(new) == len(mod.GUARDED) * len(revoked)
    assert all(e.op == "auth" and e.outcome == "deny" and "revoked" in e.reason for e in new)
