"""``subject find`` (issue 19): by employee id, name or e-mail the same versions, the raw
versions that only mention the person, what was made from them; refs only in the output; the
lookup audited by keyed hash; lesser roles refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.cli.main import run
from privtune.errors import NotFoundError, PermissionDenied
from privtune.pipeline.subject_find import find_subject
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace, init_workspace

from .conftest import SEED, _people, identifiers


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    root = tmp_path_factory.mktemp("find")
    generate_company(20, SEED, root / "export", fmt="csv")
    ws = init_workspace(root / "ws")
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role).secret
            for role in ("dpo", "ml-engineer", "auditor", "viewer")}
    ingest_export(ws, root / "export")
    # an adapter made from the person table (lineage: downstream of everyone in it)
    ws.vault.put("adapter", b"weights", kind="adapter", parents=["employees@1"])
    ws.close()
    return {"ws": root / "ws", "export": root / "export", "keys": keys, "people": _people(root / "export")}


def test_find_by_id_name_and_email(small: dict[str, Any]) -> None:
    people = small["people"]
    named = people["erase"][1]  # named in a colleague's ticket
    row = people["by_id"][named]
    with Workspace.open(small["ws"], api_key=small["keys"]["auditor"]) as ws:
        by_id = find_subject(ws, named)
        by_name = find_subject(ws, f"{row['first_name']} {row['last_name']}")
        by_mail = find_subject(ws, row["email"].upper())
    assert (by_id.query, by_name.query, by_mail.query) == ("employee id", "name", "e-mail")
    refs = {v["ref"]: v["how"] for v in by_id.versions}
    assert refs["employees@1"] == "holds" and refs["adapter@1"] == "made from"
    assert "tickets@1" in refs  # their own tickets, or a colleague's that names them
    assert any(v["how"] == "mentions" for v in by_id.versions) or refs["tickets@1"] == "holds"
    assert by_name.versions == by_id.versions == by_mail.versions
    assert by_id.of_kind("adapter") == ["adapter@1"]


def test_find_reports_mentions(small: dict[str, Any]) -> None:
    """Someone who is only named in a colleague's ticket: that ticket set is found."""
    people = small["people"]
    named = people["erase"][1]
    with Workspace.open(small["ws"], api_key=small["keys"]["dpo"]) as ws:
        res = find_subject(ws, named)
    tickets = (small["export"] / "tickets.jsonl").read_text().splitlines()
    own = [t for t in tickets if json.loads(t)["employee_id"] == named]
    how = {v["ref"]: v["how"] for v in res.versions}
    assert how["tickets@1"] == ("holds" if own else "mentions")


def test_cli_output_and_audit_hold_no_personal_data(small: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    people = small["people"]
    me = people["keep"]
    row = people["by_id"][me]
    name = f"{row['first_name']} {row['last_name']}"
    monkeypatch.setenv("PRIVTUNE_API_KEY", small["keys"]["dpo"])
    with Workspace.open(small["ws"]) as ws, ws.store.session() as s:
        head = max(e.seq for e in s.scalars(select(AuditEvent)))
    assert run(["subject", "find", name, "-w", str(small["ws"])]) == 0
    out = capsys.readouterr().out
    assert "employees@1" in out and "adapter@1" in out
    for ident in identifiers(row):  # by name: not even the resolved id comes out
        assert ident.lower() not in out.lower(), ident
    assert run(["subject", "find", me, "-w", str(small["ws"])]) == 0
    out = capsys.readouterr().out
    for ident in identifiers(row)[1:]:
        assert ident.lower() not in out.lower(), ident
    with Workspace.open(small["ws"]) as ws, ws.store.session() as s:
        ev = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > head)))
    assert any(e.op == "subject.lookup" and e.outcome == "allow" for e in ev)
    for e in ev:
        for ident in identifiers(row):
            assert ident.lower() not in (e.detail + e.object).lower()


def test_unknown_person_and_lesser_roles(small: dict[str, Any]) -> None:
    with Workspace.open(small["ws"], api_key=small["keys"]["dpo"]) as ws, \
            pytest.raises(NotFoundError) as exc:
        find_subject(ws, "Nobody Atall")
    assert "Nobody" not in str(exc.value)
    for role in ("ml-engineer", "viewer"):
        with Workspace.open(small["ws"], api_key=small["keys"][role]) as ws, \
                pytest.raises(PermissionDenied):
            find_subject(ws, small["people"]["keep"])


def test_cli_refuses_a_lesser_role(small: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PRIVTUNE_API_KEY", small["keys"]["ml-engineer"])
    assert run(["subject", "find", small["people"]["keep"], "-w", str(small["ws"])]) == 7
