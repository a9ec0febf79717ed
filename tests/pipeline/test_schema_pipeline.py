"""Issue 17 through the stages: ingest reads columns through the schema mapping and refuses an
export without an id or a name column; a column the detector finds identifiers in is never kept
raw in employees-deid; a name planted in a policy reaches nothing outside the vault."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from privtune.config import load_config
from privtune.io import read_json, read_jsonl, read_table
from privtune.pii.mapping import MAPPING_FILE, SchemaMappingError
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.ingest import ingest_export, propose_mapping
from privtune.pipeline.run import run_stages
from privtune.synth import generate_company
from privtune.workspace import default_cache_dir

EMPLOYEES, SEED = 30, 3
SSN = "871-26-5122"


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_ingest_refuses_an_export_without_an_id_or_a_name_column(workspace, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    _write(export / "employees.csv", ["code", "colour"], [["A1", "red"], ["A2", "blue"]])
    with pytest.raises(SchemaMappingError, match="no employee id column") as err:
        ingest_export(workspace, export)
    assert str(export / MAPPING_FILE) in err.value.message and err.value.exit_code == 2
    assert "A1" not in err.value.message and "red" not in err.value.message
    _write(export / "employees.csv", ["emp_id", "colour"], [["A1", "red"], ["A2", "blue"]])
    with pytest.raises(SchemaMappingError, match="no name column") as err:
        ingest_export(workspace, export)
    assert err.value.mapping_path == str(export / MAPPING_FILE)
    assert not workspace.vault.exists("employees")  # nothing half-written
    # the user's mapping places the columns: then it ingests, and the mapping is stored
    _write(export / "employees.csv", ["code", "who"], [["A1", "Zelda Quarternight"], ["A2", "Ann Lee"]])
    (export / MAPPING_FILE).write_text(
        "version: 1\ntables:\n  employees:\n    columns:\n"
        "      code: {role: employee_id}\n      who: {role: full_name}\n")
    res = ingest_export(workspace, export)
    stored = read_json(workspace.vault, res.outputs["schema-mapping"])
    assert stored["tables"]["employees"]["columns"]["who"]["role"] == "full_name"
    assert "Zelda" not in str(stored)


def test_a_mapping_naming_a_missing_column_is_a_config_error(workspace, tmp_path: Path) -> None:
    from privtune.errors import ConfigError

    export = tmp_path / "export"
    export.mkdir()
    _write(export / "employees.csv", ["emp_id", "name"], [["A1", "Ann Lee"]])
    m = tmp_path / "m.yaml"
    m.write_text("tables:\n  employees:\n    columns:\n      staff_no: {role: employee_id}\n")
    with pytest.raises(ConfigError, match="staff_no"):
        ingest_export(workspace, export, m)


def test_propose_mapping_reads_every_table(workspace, tmp_path: Path) -> None:
    generate_company(EMPLOYEES, SEED, tmp_path / "export", fmt="csv")
    m = propose_mapping(workspace, tmp_path / "export")
    assert set(m.tables) == {"employees", "leave", "reviews", "tickets"}
    assert m.table("tickets").column("employee_id") == "employee_id"
    assert m.table("leave").role("leave_id") == "record_id"


@pytest.mark.slow
def test_remarks_is_scrubbed_and_a_policy_name_stays_in_the_vault(workspace, tmp_path: Path) -> None:
    export = tmp_path / "export"
    files = generate_company(EMPLOYEES, SEED, export, fmt="csv")
    rows = list(csv.DictReader(files.employees.open()))
    header = list(rows[0]) + ["remarks"]
    table = [[*r.values(), f"David Stephens SSN {SSN}" if i == 3 else "ok"] for i, r in enumerate(rows)]
    _write(files.employees, header, table)
    # a name (an employee's) and an SSN planted in a policy document
    victim = f"{rows[5]['first_name']} {rows[5]['last_name']}"
    planted_ssn = "219-09-9999"
    pol = sorted((export / "policies").glob("*.md"))[0]
    pol.write_text(pol.read_text() + f"\n\n## Contact\n\nQuestions go to {victim} (SSN {planted_ssn}).\n")
    cfg = load_config(PipelineConfig, None, [f"company.employees={EMPLOYEES}", "dataset.val_fraction=0.5",
                                             "model.tiny.steps=2", "model.tiny.warmup=1"])
    stages = run_stages(workspace, cfg, export, stop="base_model", skip=("scan",))
    deid = read_table(workspace.vault, stages.deidentify.outputs["employees"])
    remarks = deid.column("remarks").to_pylist()
    assert not any(SSN in (v or "") or "Stephens" in (v or "") for v in remarks)
    assert remarks.count("ok") == EMPLOYEES - 1  # scrubbed, not dropped: the rest survives
    # the policy reached the dataset and the base model de-identified
    docs = read_json(workspace.vault, stages.deidentify.outputs["policies"])
    assert victim not in docs[pol.stem] and planted_ssn not in docs[pol.stem]
    assert "## Contact" in docs[pol.stem]
    for ref in (stages.dataset.record.train, stages.dataset.record.val):
        text = str(read_jsonl(workspace.vault, ref)).lower()
        assert victim.lower() not in text and planted_ssn not in text
    # nowhere outside the vault: the workspace's files (models, runs, reports), the base cache
    seen = 0
    for root in (workspace.root, default_cache_dir()):
        for p in root.rglob("*"):
            if p.is_file():
                data = p.read_bytes().decode("utf-8", "ignore").lower()
                assert victim.lower() not in data and planted_ssn not in data, p
                seen += 1
    assert seen > 10
    raw = read_json(workspace.vault, stages.ingest.outputs["policies"])
    assert victim in raw[pol.stem]  # the grep would find it: the raw policy is in the vault


def test_raw_policies_never_reach_a_dataset_or_the_base(workspace) -> None:
    from privtune.errors import InputError
    from privtune.pipeline.base_model import pretraining_texts
    from privtune.pipeline.config import DatasetSpec
    from privtune.pipeline.dataset import build_dataset

    ref = workspace.vault.put("policies", b'{"a": "Ask Ann Lee."}', kind="texts", schema="json-map")
    with pytest.raises(InputError, match="de-identified policies only"):
        build_dataset(workspace, {"employees": "employees-deid@1"}, ref, DatasetSpec())
    with pytest.raises(InputError, match="de-identified policies only"):
        pretraining_texts(workspace, ref, 0)


def test_schema_infer_command_writes_a_reviewable_mapping(workspace, tmp_path: Path) -> None:
    import contextlib
    import io

    from privtune.cli.main import run
    from privtune.pii.mapping import load_mapping

    export = tmp_path / "export"
    export.mkdir()
    _write(export / "employees.csv", ["emp_id", "Vorname", "Nachname", "tel", "shoe_size"],
           [["E1", "Zelda", "Quarternight", "(415) 372-0134", "42"], ["E2", "Ann", "Lee", "(212) 414-9987", "39"]])
    workspace.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run(["schema", "infer", str(export), "-w", str(workspace.root)])
    assert code == 0, out.getvalue()
    text = (export / MAPPING_FILE).read_text()
    assert "Zelda" not in text and "372" not in text and "Zelda" not in out.getvalue()
    m = load_mapping(export / MAPPING_FILE).table("employees")
    assert [m.role(c) for c in ("emp_id", "Vorname", "Nachname", "tel", "shoe_size")] == \
        ["employee_id", "first_name", "last_name", "phone", "unknown"]
    assert "shoe_size: unknown (0.00)  <- review" in out.getvalue()


#: Our column -> a German HRIS export's name for it.
GERMAN = {
    "employee_id": "Personalnummer", "first_name": "Vorname", "last_name": "Nachname",
    "email": "E-Mail-Adresse", "phone": "Tel", "ssn": "Sozialversicherungsnummer",
    "date_of_birth": "Geburtsdatum", "gender": "Geschlecht", "ethnicity": "Ethnie",
    "marital_status": "Familienstand", "home_address": "Anschrift", "city": "Ort",
    "state": "Bundesland", "zip": "PLZ", "hire_date": "Eintrittsdatum", "department": "Abteilung",
    "job_title": "Stellenbezeichnung", "manager_id": "Vorgesetzter", "salary": "Gehalt",
    "bonus": "Prämie", "performance_rating": "Bewertung", "leave_days_taken": "Urlaubstage genommen",
    "medical_leave": "Krankmeldung", "iban": "IBAN", "emergency_contact_name": "Notfallkontakt",
    "emergency_contact_relation": "Notfallkontakt Beziehung", "emergency_contact_phone": "Notfallnummer",
}


def _rename_export(src: Path, dst: Path) -> None:
    """The same export as another HRIS would write it: German column names everywhere."""
    import json
    import shutil

    shutil.copytree(src, dst)
    for name, renames in (("employees.csv", GERMAN), ("leave.csv", {"employee_id": "Personalnummer"})):
        rows = list(csv.reader((dst / name).open()))
        _write(dst / name, [renames.get(h, h) for h in rows[0]], rows[1:])
    for name in ("tickets.jsonl", "reviews.jsonl"):
        recs = [json.loads(x) for x in (dst / name).read_text().splitlines() if x]
        (dst / name).write_text("".join(json.dumps({("Personalnummer" if k == "employee_id" else k): v
                                                    for k, v in r.items()}) + "\n" for r in recs))


@pytest.mark.slow
def test_a_renamed_export_gives_the_same_result_through_the_stages(tmp_path: Path) -> None:
    from privtune.workspace import init_workspace

    generate_company(EMPLOYEES, SEED, tmp_path / "ours", fmt="csv")
    _rename_export(tmp_path / "ours", tmp_path / "theirs")
    cfg = load_config(PipelineConfig, None, [f"company.employees={EMPLOYEES}", "dataset.val_fraction=0.5"])
    got = {}
    for name in ("ours", "theirs"):
        with init_workspace(tmp_path / f"ws-{name}") as ws:
            st = run_stages(ws, cfg, tmp_path / name, stop="dataset")
            emp = read_table(ws.vault, st.deidentify.outputs["employees"])
            leave = read_table(ws.vault, st.deidentify.outputs["leave"])
            got[name] = {
                "scan": {k: v for k, v in st.scan.figures.items() if k not in ("report", "direct_identifier_columns")},
                "deid": {k: v for k, v in st.deidentify.figures.items() if k not in ("policy", "report")},
                "columns": (emp.column_names, leave.column_names),
                # the split by employee depends on each workspace's random pseudonym key
                "dataset": {k: st.dataset.figures[k] for k in ("examples", "by_kind", "third_parties",
                                                               "dropped_shared_examples")},
                "tickets": [sorted(r) for r in read_jsonl(ws.vault, st.deidentify.outputs["tickets"])],
            }
    assert got["theirs"]["scan"]["entities_in_texts"] == got["ours"]["scan"]["entities_in_texts"]
    assert got["theirs"] == got["ours"]
