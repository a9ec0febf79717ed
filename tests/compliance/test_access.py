"""Right of access (issue 19): the package holds the requester's own records and nothing about
anyone else; only admin and DPO may export it; the export is audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.errors import PermissionDenied
from privtune.pipeline.subject_access import export_subject
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace, init_workspace

from .conftest import ADMIN_KEY, SEED, _people, identifiers


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    root = tmp_path_factory.mktemp("access")
    generate_company(20, SEED, root / "export", fmt="csv")
    ws = init_workspace(root / "ws")
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role).secret
            for role in ("dpo", "ml-engineer", "data-steward", "auditor")}
    ingest_export(ws, root / "export")
    ws.close()
    return {"ws": root / "ws", "keys": keys, "people": _people(root / "export")}


def test_access_package_holds_only_the_requester(small: dict[str, Any], tmp_path: Path) -> None:
    people = small["people"]
    # the manager named in others' tickets: their own texts name other people
    me = people["erase"][1]
    out = tmp_path / "pkg" / "access.json"
    with Workspace.open(small["ws"], api_key=small["keys"]["dpo"]) as ws:
        pkg = export_subject(ws, me, out)
    assert pkg.records >= 1
    text = out.read_text() + pkg.html_path.read_text()
    doc = json.loads(out.read_text())
    row = people["by_id"][me]
    emp = next(v for k, v in doc["your_data"].items() if k.startswith("employees@"))
    assert emp[0]["ssn"] == row["ssn"] and emp[0]["email"] == row["email"]
    assert doc["processing"]["transfers"].startswith("none")
    for other, orow in people["by_id"].items():
        if other == me:
            continue
        for ident in identifiers(orow):
            assert ident.lower() not in text.lower(), (other, ident)
    assert out.stat().st_mode & 0o077 == 0
    with Workspace.open(small["ws"]) as ws, ws.store.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.op == "subject.export")).all()
    assert ev and ev[-1].outcome == "allow" and me not in ev[-1].detail


@pytest.mark.parametrize("role", ["ml-engineer", "data-steward", "auditor"])
def test_access_export_is_admin_and_dpo_only(small: dict[str, Any], tmp_path: Path,
                                             role: str) -> None:
    out = tmp_path / "x.json"
    with Workspace.open(small["ws"], api_key=small["keys"][role]) as ws, \
            pytest.raises(PermissionDenied):
        export_subject(ws, small["people"]["keep"], out)
    assert not out.exists()
    with Workspace.open(small["ws"], api_key=ADMIN_KEY) as ws:
        export_subject(ws, small["people"]["keep"], out)
    assert out.exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_record_of_processing(small: dict[str, Any], tmp_path: Path) -> None:
    from privtune.pipeline.ropa import write_ropa

    with Workspace.open(small["ws"], api_key=small["keys"]["auditor"]) as ws:
        js, page = write_ropa(ws, tmp_path / "ropa.json")
    doc = json.loads(js.read_text())
    assert doc["c_categories"]["held"]["employees"]["rows"] == 20
    assert doc["d_recipients"]["users_per_role"]["dpo"] == 1
    assert doc["e_transfers"].startswith("none")
    assert doc["f_retention"]["periods_days"]["raw_days"] == 90  # read from the config
    assert {k["provider"] for k in doc["g_security"]["kek"]} == {"passphrase"}
    text = js.read_text() + page.read_text()
    for row in small["people"]["by_id"].values():  # names columns and objects, never people
        for ident in identifiers(row):
            assert ident.lower() not in text.lower()
    with Workspace.open(small["ws"], api_key=small["keys"]["ml-engineer"]) as ws, \
            pytest.raises(PermissionDenied):
        write_ropa(ws, tmp_path / "no.json")


def test_subject_export_command(small: dict[str, Any], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from privtune.cli.main import run

    monkeypatch.setenv("PRIVTUNE_API_KEY", small["keys"]["dpo"])
    out = tmp_path / "export.json"
    me = small["people"]["keep"]
    assert run(["subject", "export", me, "--out", str(out), "-w", str(small["ws"])]) == 0
    assert json.loads(out.read_text())["your_data"] and out.with_suffix(".html").is_file()
    monkeypatch.setenv("PRIVTUNE_API_KEY", small["keys"]["ml-engineer"])
    assert run(["subject", "export", me, "--out", str(tmp_path / "n.json"),
                "-w", str(small["ws"])]) == 7
    assert not (tmp_path / "n.json").exists()
