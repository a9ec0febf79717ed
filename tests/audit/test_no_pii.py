"""Planted-PII grep: after ingest, de-identification, subject lookups and denied attempts,
neither the audit log (rows and exports) nor the metadata database holds any personal data."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import inspect, text

from privtune.access import admin
from privtune.audit import api
from privtune.errors import PermissionDenied
from privtune.pipeline.deid import deidentify
from privtune.pipeline.ingest import ingest_export
from privtune.synth import generate_company
from privtune.workspace import Workspace


def _planted(files) -> list[str]:
    rows = list(csv.DictReader(files.employees.open()))
    out: set[str] = set()
    for r in rows:
        out |= {r["employee_id"], r["ssn"], r["email"], r["phone"], f"{r['first_name']} {r['last_name']}"}
        out |= {r["last_name"]} if len(r["last_name"]) >= 5 else set()
    return sorted(v for v in out if v)


def test_no_planted_pii_in_audit_log_or_metadata(db_url, tmp_path, make_workspace) -> None:
    export = tmp_path / "export"
    files = generate_company(25, 5, export)
    planted = _planted(files)
    ids = [r["employee_id"] for r in csv.DictReader(files.employees.open())]
    with make_workspace(tmp_path / "ws", db_url=db_url) as ws:
        refs = ingest_export(ws, export).outputs
        deidentify(ws, refs)
        for eid in ids[:5]:
            hits = ws.subjects().find(eid)
            assert refs["employees"] in hits.direct and "employees-deid@1" in hits.derived
        assert ws.subjects().find("E99999").all == []
        viewer = admin.add_user(ws.access, ws.store, "viewer1", "viewer")
        with Workspace.open(ws.root, api_key=viewer.secret) as v:
            with pytest.raises(PermissionDenied):
                v.subjects().find(ids[0])
            with pytest.raises(PermissionDenied):
                v.vault.get(refs["employees"])
        texts = [api.export(ws.guard, ws.store, "jsonl"), api.export(ws.guard, ws.store, "csv")]
        with ws.store.engine.connect() as c:
            for table in inspect(c).get_table_names():
                texts += [repr(tuple(r)) for r in c.execute(text(f'SELECT * FROM "{table}"')).all()]
        if db_url.startswith("sqlite"):
            for p in ws.root.glob("metadata.db*"):
                texts.append(p.read_bytes().decode("latin-1"))
        assert len(api.show(ws.guard, ws.store)) > 20
    blob = "\n".join(texts)
    leaks = [i for i, v in enumerate(planted) if v in blob]
    assert leaks == [], f"{len(leaks)} planted values found in the audit log / metadata"
    # ...while the grep would find them where they are expected: the raw export.
    raw = files.employees.read_text()
    assert all(v in raw for v in planted[:10])
