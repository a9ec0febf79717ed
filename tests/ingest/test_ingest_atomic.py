"""One export is one transaction; bad input is a typed error naming file, row and field.

Issue 16, findings 7 and 11 (input): a bad ``reviews.jsonl`` left new versions of
``employees`` and ``leave`` committed; 5000-digit integers, deep nesting and lone surrogates
crashed with untyped errors (exit 70); duplicate or missing employee ids and header-only
tables were accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from privtune.cli.main import run
from privtune.errors import InputError
from privtune.ingest import read_table, read_texts
from privtune.pii.stream import parse_line
from privtune.pipeline.ingest import ingest_export
from privtune.store import ObjectVersion
from privtune.store.audit_models import SubjectIndex

SECRET = "Zyxwv Secretname"


def _export(root: Path, *, reviews: str | None = None, leave: str | None = None,
            employees: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "employees.csv").write_text(employees or (
        "employee_id,first_name,last_name\nE1,Ann,Lee\nE2,Bo,Kim\nE3,Cy,Park\n"))
    (root / "leave.csv").write_text(leave or (
        "leave_id,employee_id,start_date,end_date,leave_type\n"
        "L1,E1,2024-01-01,2024-01-03,vacation\nL2,E2,2024-02-01,2024-02-02,sick\n"))
    (root / "reviews.jsonl").write_text(reviews or (
        '{"id": "R1", "employee_id": "E1", "text": "Solid year."}\n'
        '{"id": "R2", "employee_id": "E3", "text": "Good work."}\n'))
    return root


def _objects(ws) -> dict[str, int]:
    with ws.store.session() as s:
        rows = s.scalars(select(ObjectVersion)).all()
    out: dict[str, int] = {}
    for r in rows:
        out[r.name] = max(out.get(r.name, 0), r.version)
    return out


def _files(ws) -> set[str]:
    base = ws.vault.root / "objects"
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()}


def test_a_bad_third_file_commits_nothing_of_the_export(workspace, tmp_path: Path) -> None:
    good = ingest_export(workspace, _export(tmp_path / "one")).outputs
    assert good["employees"] == "employees@1" and good["reviews"] == "reviews@1"
    before, files_before = _objects(workspace), _files(workspace)
    with workspace.store.session() as s:
        index_before = len(s.scalars(select(SubjectIndex)).all())
    bad = _export(tmp_path / "two", employees=(
        "employee_id,first_name,last_name\nE1,Ann,Lee\nE2,Bo,Kim\nE3,Cy,Park\nE4,Di,Ng\n"),
        reviews='{"id": "R1", "employee_id": "E1", "text": "ok"}\n{"id": "R2", "text": oops}\n')
    with pytest.raises(InputError, match=r"reviews\.jsonl.*row 2"):
        ingest_export(workspace, bad)
    # Before the fix: employees@2 and leave@2 were committed, so "latest" mixed two exports.
    assert _objects(workspace) == before
    assert workspace.vault.resolve("employees") == "employees@1"
    assert _files(workspace) == files_before  # no orphan encrypted file either
    with workspace.store.session() as s:
        assert len(s.scalars(select(SubjectIndex)).all()) == index_before


def test_a_failure_while_writing_rolls_back_every_object_and_file(
        workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked input, but the third write fails (a full disk, a refused write): all or none."""
    before, files_before = _objects(workspace), _files(workspace)
    real_put = workspace.vault.put
    calls = {"n": 0}

    def failing_put(name: str, data: bytes, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_put(name, data, **kw)

    monkeypatch.setattr(workspace.vault, "put", failing_put)
    with pytest.raises(OSError):
        ingest_export(workspace, _export(tmp_path / "x"))
    assert calls["n"] == 3
    assert _objects(workspace) == before and _files(workspace) == files_before
    monkeypatch.undo()
    out = ingest_export(workspace, _export(tmp_path / "x")).outputs
    assert {out["employees"], out["leave"], out["reviews"]} == {"employees@1", "leave@1", "reviews@1"}
    hits = workspace.subjects().find("E3")
    assert hits.direct == ["employees@1", "reviews@1"]  # the index rows committed with them


def test_cli_ingest_of_a_bad_export_leaves_the_vault_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make_workspace) -> None:
    w = str(tmp_path / "w")
    make_workspace(tmp_path / "w").close()
    bad = _export(tmp_path / "e", reviews='{"id": "R1", "employee_id": "E1", "text": "x"}\n[1]\n')
    capsys.readouterr()
    assert run(["ingest", str(bad), "-w", w]) == 2
    assert "reviews.jsonl" in capsys.readouterr().err
    assert run(["vault", "ls", "-w", w]) == 0
    listing = capsys.readouterr().out
    assert "employees" not in listing and "leave" not in listing


# ------------------------------------------------------------------ hostile JSON
HOSTILE = {
    "5000-digit integer": '{"id": "R1", "employee_id": "E1", "text": "x", "n": ' + "9" * 5000 + "}",
    "100k-deep nesting": '{"id": "R1", "text": "x", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "moderate nesting": '{"id": "R1", "text": "x", "deep": ' + "[" * 500 + "]" * 500 + "}",
    "lone surrogate": '{"id": "R1", "employee_id": "E1", "text": "bad \\ud800 here"}',
    "NaN": '{"id": "R1", "employee_id": "E1", "text": "x", "n": NaN}',
    "overflowing float": '{"id": "R1", "employee_id": "E1", "text": "x", "n": 1e999}',
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_jsonl_is_an_input_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    p = tmp_path / "reviews.jsonl"
    p.write_text('{"id": "R0", "text": "fine"}\n' + HOSTILE[case] + "\n")
    with pytest.raises(InputError) as e:
        read_texts(p)
    assert "reviews.jsonl" in str(e.value) and "row 2" in str(e.value)
    assert "9999" not in str(e.value)
    # the same line as a table row, and as a JSON array file
    t = tmp_path / "employees.jsonl"
    t.write_text('{"employee_id": "E0"}\n' + HOSTILE[case] + "\n")
    with pytest.raises(InputError, match=r"employees\.jsonl.*row 2"):
        read_table(t)
    a = tmp_path / "employees.json"
    a.write_text("[\n" + '{"employee_id": "E0"},\n' + HOSTILE[case] + "\n]")
    with pytest.raises(InputError, match=r"employees\.json"):
        read_table(a)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_lines_are_typed_in_pii_detect_too(case: str) -> None:
    with pytest.raises(InputError, match="line 7"):
        parse_line(HOSTILE[case], 7, "in.jsonl")


@pytest.mark.parametrize("case", ["5000-digit integer", "100k-deep nesting", "lone surrogate"])
def test_cli_ingest_of_hostile_jsonl_exits_2_not_70(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, make_workspace) -> None:
    w = str(tmp_path / "w")
    make_workspace(tmp_path / "w").close()
    bad = _export(tmp_path / "e", reviews=HOSTILE[case] + "\n")
    capsys.readouterr()
    assert run(["ingest", str(bad), "-w", w]) == 2
    err = capsys.readouterr().err
    assert "reviews.jsonl" in err and "row 1" in err and "Traceback" not in err


def test_ordinary_nesting_and_numbers_still_read(tmp_path: Path) -> None:
    p = tmp_path / "reviews.jsonl"
    p.write_text(json.dumps({"id": 1, "text": "x", "meta": {"a": [1, 2.5, {"b": None}]},
                             "n": int("9" * 300)}) + "\n")
    assert read_texts(p)[0]["meta"] == {"a": [1, 2.5, {"b": None}]}


# ------------------------------------------------------------------ ids and empty tables
@pytest.mark.parametrize(("employees", "row", "why"), [
    ("employee_id,first_name,last_name\nE1,Ann,Lee\nE1,Bo,Kim\n", 2, "duplicate id"),
    ("employee_id,first_name,last_name\nE1,Ann,Lee\n,Bo,Kim\n", 2, "missing id"),
    ("employee_id,first_name,last_name\nE1,Ann,Lee\n  ,Bo,Kim\n", 2, "missing id"),
])
def test_duplicate_or_missing_employee_ids_are_refused(
        workspace, tmp_path: Path, employees: str, row: int, why: str) -> None:
    with pytest.raises(InputError) as e:
        ingest_export(workspace, _export(tmp_path / "e", employees=employees))
    msg = str(e.value)
    assert "employees.csv" in msg and f"row {row}" in msg and "employee_id" in msg and why in msg
    assert "E1" not in msg and "Bo" not in msg
    assert "employees" not in _objects(workspace)


def test_leave_and_texts_must_point_at_known_employees(workspace, tmp_path: Path) -> None:
    leave = ("leave_id,employee_id,start_date,end_date,leave_type\n"
             "L1,E1,2024-01-01,2024-01-03,vacation\nL2,,2024-02-01,2024-02-02,sick\n")
    with pytest.raises(InputError, match=r"leave\.csv, row 2, field 'employee_id': missing id"):
        ingest_export(workspace, _export(tmp_path / "a", leave=leave))
    leave = leave.replace("L2,,", "L2,E9,")
    with pytest.raises(InputError, match=r"leave\.csv, row 2.*not found in the employees"):
        ingest_export(workspace, _export(tmp_path / "b", leave=leave))
    reviews = '{"id": "R1", "employee_id": "E9", "text": "x"}\n'
    with pytest.raises(InputError, match=r"reviews\.jsonl, row 1.*not found in the employees"):
        ingest_export(workspace, _export(tmp_path / "c", reviews=reviews))
    assert "employees" not in _objects(workspace)


@pytest.mark.parametrize(("name", "content"), [
    ("employees.csv", "employee_id,first_name,last_name\n"),
    ("employees.csv", "employee_id,first_name,last_name\n\n\n"),
])
def test_header_only_tables_are_refused(tmp_path: Path, name: str, content: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError, match="header but no rows"):
        read_table(p)


def test_header_only_parquet_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "employees.parquet"
    pq.write_table(pa.table({"employee_id": pa.array([], pa.string())}), p)
    with pytest.raises(InputError, match="header but no rows"):
        read_table(p)


def test_errors_never_echo_values(workspace, tmp_path: Path) -> None:
    employees = f"employee_id,first_name,last_name\n{SECRET},Ann,Lee\n{SECRET},Bo,Kim\n"
    with pytest.raises(InputError) as e:
        ingest_export(workspace, _export(tmp_path / "e", employees=employees))
    assert SECRET not in str(e.value)
