"""``privtune pii detect``: JSONL round trip, roster, workers, atomic output, typed errors that
name the line and never the text (no PII in errors or logs)."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest

from privtune.cli.main import run
from privtune.pii import Detector, Roster
from privtune.pii.stream import detect_jsonl

PLANTED = ["Zelda Quarternight", "zelda.q@example.org", "078-05-1120", "4111 1111 1111 1111"]
RECORDS = [
    {"id": "a", "text": f"Ms. {PLANTED[0]} wrote from {PLANTED[1]}; SSN {PLANTED[2]}."},
    {"id": 7, "text": f"Card {PLANTED[3]}, order #48213, v2.3.1, 3 days."},
    {"id": "c", "text": ""},
]


def _jsonl(records: list[object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _roster_csv(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["employee_id", "first_name", "last_name", "email", "phone"])
        w.writeheader()
        w.writerow({"employee_id": "E00009", "first_name": "Zelda", "last_name": "Quarternight",
                    "email": "zelda.q@example.org", "phone": "(415) 372-0134"})
    return path


def test_round_trip_matches_the_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(_jsonl(RECORDS) + "\n")  # a trailing blank line is skipped
    assert run(["pii", "detect", "--input", str(src)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == ["a", 7, "c"]
    det = Detector()
    for rec, o in zip(RECORDS, out):
        assert o["spans"] == [{"start": s.start, "end": s.end, "type": s.type} for s in det.detect(rec["text"])]
    text = RECORDS[0]["text"]
    assert [text[s["start"] : s["end"]] for s in out[0]["spans"]] == PLANTED[:3]
    assert [s["type"] for s in out[1]["spans"]] == ["CREDIT_CARD"]
    assert out[2]["spans"] == []


def test_stdin_roster_types_and_output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roster = _roster_csv(tmp_path / "employees.csv")
    monkeypatch.setattr("sys.stdin", io.StringIO(_jsonl([{"id": 1, "text": "QUARTERNIGHT, ZELDA and Zelda met on March 8, 2023"}])))
    out = tmp_path / "out" / "spans.jsonl"
    assert run(["pii", "detect", "--roster", str(roster), "--types", "person", "--output", str(out)]) == 0
    line = json.loads(out.read_text())
    assert [(s["start"], s["end"], s["type"]) for s in line["spans"]] == [(0, 19, "PERSON"), (24, 29, "PERSON")]


def test_workers_give_the_same_output_in_order(tmp_path: Path) -> None:
    records = [{"id": i, "text": f"Mr. Okafor {i} paid ${i},000 on March {1 + i % 28}, 2023"} for i in range(1200)]
    serial = list(detect_jsonl(io.StringIO(_jsonl(records)), Detector()))
    parallel = list(detect_jsonl(io.StringIO(_jsonl(records)), Detector(), workers=2))
    assert parallel == serial and len(serial) == 1200


def test_org_id_option(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(_jsonl([{"id": 1, "text": "badge BDG-004211"}])))
    assert run(["pii", "detect", "--org-id", "badge=BDG-\\d{6}"]) == 0
    assert json.loads(capsys.readouterr().out)["spans"] == [{"start": 6, "end": 16, "type": "ORG_ID"}]


BAD = [
    ("not json " + PLANTED[0], "line 2: not a valid JSON object"),
    (json.dumps([PLANTED[1]]), "line 2: expected a JSON object"),
    (json.dumps({"text": PLANTED[2]}), "field 'id'"),
    (json.dumps({"id": 1, "text": 5}), "field 'text'"),
    (json.dumps({"id": [PLANTED[3]], "text": "x"}), "field 'id'"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_lines_are_typed_errors_naming_the_line_without_pii(
    line: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": PLANTED[0]}) + "\n" + line + "\n")
    out = tmp_path / "out.jsonl"
    with caplog.at_level(logging.DEBUG):
        code = run(["pii", "detect", "--input", str(src), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err.replace("\n", " ") and "in.jsonl" in err
    assert not out.exists()  # nothing half-written
    leaked = err + caplog.text + "".join(p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p != src and p.is_file())
    for value in PLANTED:
        assert value not in leaked


def test_missing_files_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["pii", "detect", "--input", str(tmp_path / "none.jsonl")]) == 2
    assert run(["pii", "detect", "--roster", str(tmp_path / "none.csv")]) == 2
    assert run(["pii", "detect", "--types", "PERSON,NOPE"]) == 2
    assert run(["pii", "detect", "--org-id", "no-equals-sign"]) == 2
    err = capsys.readouterr().err
    assert "none.jsonl" in err and "NOPE" in err and "LABEL=REGEX" in err


def test_roster_without_name_columns_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "people.csv"
    bad.write_text("employee_id,email\nE00001,zelda.q@example.org\n")
    assert run(["pii", "detect", "--roster", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "people.csv" in err and "first_name" in err and "zelda" not in err


def test_invalid_utf8_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "\xff\xfe"}\n')
    assert run(["pii", "detect", "--input", str(src)]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err


def test_roster_from_a_table_with_subjects() -> None:
    roster = Roster.from_employees([{"employee_id": "E00009", "first_name": "Zelda", "last_name": "Quarternight"}])
    assert [s.subject for s in Detector(roster).detect("Zelda Quarternight and E00009")] == ["E00009", "E00009"]
