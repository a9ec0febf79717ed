"""``subject rectify`` (issue 19, Art. 16): a new version of the person table with one field
corrected, everyone else's rows unchanged, the adapters made from the old data flagged (not
retrained), audited without the person or the value; lesser roles refused; bad input typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.cli.main import run
from privtune.errors import InputError, NotFoundError, PermissionDenied
from privtune.io import read_table
from privtune.pipeline.rectify import _cast, rectify
from privtune.store.audit_models import AuditEvent
from privtune.store.subject_models import SubjectRequest
from privtune.workspace import Workspace, init_workspace

from .conftest import ADMIN_KEY, SEED, _people

NEW_DEPT = "Rectified Department"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    root = tmp_path_factory.mktemp("rectify")
    generate_company(20, SEED, root / "export", fmt="csv")
    ws = init_workspace(root / "ws")
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role).secret
            for role in ("dpo", "ml-engineer", "data-steward", "auditor")}
    ingest_export(ws, root / "export")
    ws.vault.put("adapter", b"weights", kind="adapter", parents=["employees@1"])
    ws.close()
    return {"ws": root / "ws", "keys": keys, "people": _people(root / "export")}


def test_rectify_one_field(small: dict[str, Any]) -> None:
    me, other = small["people"]["keep"], small["people"]["erase"][2]
    with Workspace.open(small["ws"], api_key=small["keys"]["dpo"]) as ws:
        with ws.store.session() as s:
            head = max(e.seq for e in s.scalars(select(AuditEvent)))
        res = rectify(ws, me, "department", NEW_DEPT)
    assert (res.old, res.retrain) == ("employees@1", ["adapter@1"])
    with Workspace.open(small["ws"], api_key=ADMIN_KEY) as ws:
        old = {r["employee_id"]: r for r in read_table(ws.vault, res.old).to_pylist()}
        new = {r["employee_id"]: r for r in read_table(ws.vault, res.new).to_pylist()}
        assert ws.vault.manifest(res.new).meta["rectified_from"] == "employees@1"
        with ws.store.session() as s:
            row = s.get(SubjectRequest, res.request)
            assert row is not None and row.kind == "rectify"
            assert row.plan["retrain"] == ["adapter@1"] and row.plan["field"] == "department"
            events = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > head)))
        hits = ws.subjects().find(me).direct
    assert new[me]["department"] == NEW_DEPT and old[me]["department"] != NEW_DEPT
    assert {k: v for k, v in new[me].items() if k != "department"} == \
        {k: v for k, v in old[me].items() if k != "department"}
    assert new[other] == old[other] and len(new) == len(old)
    assert res.new in hits  # the new version is indexed
    assert any(e.op == "subject.rectify" and e.outcome == "allow" for e in events)
    for e in events:
        assert me not in e.detail + e.object and NEW_DEPT not in e.detail
    assert me not in json.dumps(row.plan) and NEW_DEPT not in json.dumps(row.plan)


def test_bad_input_is_typed_and_writes_nothing(small: dict[str, Any]) -> None:
    me = small["people"]["keep"]
    with Workspace.open(small["ws"], api_key=small["keys"]["dpo"]) as ws:
        before = len(ws.vault.list())
        with pytest.raises(InputError, match="no column"):
            rectify(ws, me, "no_such_column", "x")
        with pytest.raises(InputError, match="employee id"):
            rectify(ws, me, "employee_id", "E99999")
        with pytest.raises(InputError) as exc:  # a value the column's type cannot hold
            _cast("not-a-number", pa.chunked_array([[1, 2]]), "salary")
        assert "not-a-number" not in str(exc.value) and exc.value.field == "salary"
        with pytest.raises(NotFoundError):
            rectify(ws, "E99999", "department", "x")
        assert len(ws.vault.list()) == before


@pytest.mark.parametrize("role", ["ml-engineer", "data-steward", "auditor"])
def test_lesser_roles_cannot_rectify(small: dict[str, Any], role: str) -> None:
    with Workspace.open(small["ws"], api_key=small["keys"][role]) as ws:
        before = len(ws.vault.list())
        with pytest.raises(PermissionDenied):
            rectify(ws, small["people"]["keep"], "department", "x")
        assert len(ws.vault.list()) == before


def test_cli(small: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
             capsys: pytest.CaptureFixture[str]) -> None:
    me = small["people"]["keep"]
    monkeypatch.setenv("PRIVTUNE_API_KEY", small["keys"]["dpo"])
    assert run(["subject", "rectify", me, "job_title", "Rectified Title", "-w",
                str(small["ws"])]) == 0
    assert "needs retraining: adapter@1" in capsys.readouterr().out
    monkeypatch.setenv("PRIVTUNE_API_KEY", small["keys"]["ml-engineer"])
    assert run(["subject", "rectify", me, "job_title", "X", "-w", str(small["ws"])]) == 7
