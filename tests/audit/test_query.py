"""``audit-log show`` filters and ``export`` as JSONL / CSV, through the library and the CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest

from privtune.access import admin
from privtune.audit import api
from privtune.audit.query import EventFilter
from privtune.errors import InputError, PermissionDenied
from privtune.workspace import Workspace


@pytest.fixture()
def ws(db_url, tmp_path, make_workspace):
    w = make_workspace(tmp_path / "ws", db_url=db_url)
    w.vault.put("employees", b"a", kind="table")
    w.vault.put("employees", b"b", kind="table")
    w.vault.put("trainset", b"c", kind="examples", parents=["employees@2"])
    viewer = admin.add_user(w.access, w.store, "vic", "viewer")
    with Workspace.open(w.root, api_key=viewer.secret) as v, pytest.raises(PermissionDenied):
        v.vault.get("employees@1")
    yield w, viewer
    w.close()


def test_filters(ws) -> None:
    w, viewer = ws
    everything = api.show(w.guard, w.store)
    assert [e.seq for e in everything] == list(range(1, len(everything) + 1))
    denied = api.show(w.guard, w.store, EventFilter(outcome="deny"))
    assert len(denied) == 1 and denied[0].actor == viewer.user_id
    assert denied[0].object == "employees@1" and denied[0].op == "data.read"
    assert {e.op for e in api.show(w.guard, w.store, EventFilter(op="data.*"))} == {"data.write", "data.read"}
    assert [(e.op, e.object) for e in api.show(w.guard, w.store, EventFilter(object="employees"))] == [
        ("data.write", "employees@1"), ("data.write", "employees@2"), ("data.read", "employees@1")]
    assert [e.actor for e in api.show(w.guard, w.store, EventFilter(actor=viewer.user_id))] == [viewer.user_id]
    assert len(api.show(w.guard, w.store, EventFilter(limit=2))) == 2
    assert api.show(w.guard, w.store, EventFilter(since="2000-01-01", until="2000-01-02")) == []
    assert len(api.show(w.guard, w.store, EventFilter(since="2000-01-01"))) > 5
    with pytest.raises(InputError, match="since"):
        api.show(w.guard, w.store, EventFilter(since="yesterday"))
    with pytest.raises(InputError, match="outcome"):
        api.show(w.guard, w.store, EventFilter(outcome="maybe"))


def test_export_jsonl_and_csv_round_trip(ws) -> None:
    w, _ = ws
    lines = api.export(w.guard, w.store, "jsonl").splitlines()
    recs = [json.loads(x) for x in lines]
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert all(r["hash"] and len(r["prev_hash"]) == 64 for r in recs)
    assert recs[1]["prev_hash"] == recs[0]["hash"]
    rows = list(csv.DictReader(io.StringIO(api.export(w.guard, w.store, "csv"))))
    assert [int(r["seq"]) for r in rows][: len(recs)] == [r["seq"] for r in recs]
    with pytest.raises(InputError, match="format"):
        api.export(w.guard, w.store, "xml")


def test_reading_the_log_is_itself_audited_and_needs_audit_read(ws) -> None:
    w, viewer = ws
    api.show(w.guard, w.store)
    assert api.show(w.guard, w.store, EventFilter(op="audit.read"))[-1].outcome == "allow"
    with Workspace.open(w.root, api_key=viewer.secret) as v, \
            pytest.raises(PermissionDenied, match=r"audit\.read"):
        api.export(v.guard, v.store, "jsonl")


def test_cli_show_and_export(ws, tmp_path, capsys) -> None:
    from privtune.cli.main import run

    w, _ = ws
    root = str(w.root)
    assert run(["audit-log", "show", "--outcome", "deny", "-w", root]) == 0
    assert "deny" in capsys.readouterr().out
    out = tmp_path / "log.csv"
    assert run(["audit-log", "export", "--format", "csv", "--out", str(out), "-w", root]) == 0
    assert out.read_text().startswith("seq,ts,actor")
    capsys.readouterr()
    assert run(["audit-log", "checkpoint", "-w", root]) == 0
    seq = int(capsys.readouterr().out.split()[-1])
    assert run(["audit-log", "verify", "-w", root]) == 0
    # every command now seals a checkpoint when it closes (issue 16): the explicit one is the
    # head file's, and verify compared it (verify's own event comes after it)
    out = " ".join(capsys.readouterr().out.split())
    assert "intact" in out and f"head file at event {seq} matches" in out
