"""Lineage: parents upstream / children downstream, and the keyed subject index."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from privtune.lineage import lineage_of
from privtune.store.audit_models import SubjectIndex


def _graph(ws) -> None:
    v = ws.vault
    v.put("employees", b"e", kind="table")                               # employees@1
    v.put("tickets", b"t", kind="texts")                                 # tickets@1
    v.put("employees-deid", b"d", kind="table", parents=["employees@1", "pseudonym-key@1"])
    v.put("trainset", b"x", kind="examples", parents=["employees-deid@1", "tickets@1"])
    v.put("adapter", b"a", kind="adapter", parents=["trainset@1"])
    v.put("employees", b"e2", kind="table")                              # employees@2, unrelated


def test_upstream_and_downstream(db_url, tmp_path, make_workspace) -> None:
    with make_workspace(tmp_path / "w", db_url=db_url) as ws:
        _graph(ws)
        g = lineage_of(ws.vault, "trainset")
        assert g.ref == "trainset@1"
        assert set(g.upstream()) == {"employees-deid@1", "tickets@1", "employees@1", "pseudonym-key@1"}
        assert g.downstream() == ["adapter@1"]
        assert lineage_of(ws.vault, "employees@1").downstream() == ["employees-deid@1", "trainset@1", "adapter@1"]
        assert lineage_of(ws.vault, "employees").downstream() == []  # latest = @2


def test_subject_lookup_goes_through_keyed_hashes(db_url, tmp_path, make_workspace) -> None:
    with make_workspace(tmp_path / "w", db_url=db_url) as ws:
        _graph(ws)
        assert ws.subjects().index("employees@1", ["E00017", "E00018", None, ""]) == 2
        assert ws.subjects().index("tickets@1", ["E00018"]) == 1
        ws.subjects().index("employees@1", ["E00017"])  # idempotent
        hits = ws.subjects().find("E00017")
        assert hits.direct == ["employees@1"]
        assert hits.derived == ["adapter@1", "employees-deid@1", "trainset@1"]
        assert ws.subjects().find("E00018").direct == ["employees@1", "tickets@1"]
        assert ws.subjects().find("E99999").all == []
        with ws.store.session() as s:
            stored = s.scalars(select(SubjectIndex.subject)).all()
        assert len(stored) == 3 and all(len(h) == 64 and "E000" not in h for h in stored)
        with ws.store.engine.connect() as c:
            dump = " ".join(str(r) for t in ("audit_events", "subject_index")
                            for r in c.execute(text(f"SELECT * FROM {t}")).all())
        assert "E00017" not in dump and "E00018" not in dump and "E99999" not in dump


def test_cli_lineage(tmp_path, capsys, make_workspace) -> None:
    from privtune.cli.main import run

    with make_workspace(tmp_path / "w") as ws:
        _graph(ws)
        ws.subjects().index("employees@1", ["E00042"])
    root = str(tmp_path / "w")
    capsys.readouterr()
    assert run(["lineage", "trainset", "-w", root]) == 0
    out = capsys.readouterr().out
    assert "employees@1" in out and "adapter@1" in out
    assert run(["lineage", "--subject", "E00042", "-w", root]) == 0
    assert "adapter@1" in capsys.readouterr().out
    assert run(["lineage", "-w", root]) == 2


def test_subject_lookup_needs_permission(workspace) -> None:
    from privtune.access import admin
    from privtune.errors import PermissionDenied
    from privtune.workspace import Workspace

    eng = admin.add_user(workspace.access, workspace.store, "mle", "ml-engineer")
    with Workspace.open(workspace.root, api_key=eng.secret) as ws, \
            pytest.raises(PermissionDenied, match=r"subject\.lookup"):
        ws.subjects().find("E00001")
