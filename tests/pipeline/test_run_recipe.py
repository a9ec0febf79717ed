"""Issue 18: ``privtune run`` on an export whose columns are renamed or missing, walked as a new
user would: every kind of silent loss is a warning (on stderr and in summary.json), the lineage
lists only the inputs the examples use, and a second run resumes where the first stopped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from privtune.access.apikeys import ENV_API_KEY
from privtune.cli.main import run
from privtune.config import SHIPPED_DIR
from privtune.synth import generate_company
from privtune.workspace import Workspace

pytestmark = pytest.mark.slow

EMPLOYEES = 40


def _export(root: Path) -> Path:
    export = root / "export"
    generate_company(EMPLOYEES, 5, export, fmt="csv")
    path = export / "employees.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    renamed = {"first_name": "Vorname", "last_name": "Nachname"}
    dropped = {"department", "performance_rating"}
    with path.open("w", newline="", encoding="utf-8") as f:
        cols = [renamed.get(c, c) for c in rows[0] if c not in dropped]
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({renamed.get(k, k): v for k, v in r.items() if k not in dropped})
    tickets = [json.loads(line) for line in (export / "tickets.jsonl").read_text().splitlines()]
    for t in tickets[:3]:
        t.pop("category")
    (export / "tickets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tickets))
    for name in ("pii_spans.jsonl", "company.json"):  # ground truth, not part of an HRIS export
        (export / name).unlink(missing_ok=True)
    return export


@pytest.fixture(scope="module")
def walked(tmp_path_factory, make_workspace, test_admin_key):
    base = tmp_path_factory.mktemp("own-export")
    _export(base)
    # A policy whose k can only be met by generalising both quasi-identifiers away completely.
    policy = yaml.safe_load((SHIPPED_DIR / "deid-policy.yaml").read_text())
    policy["privacy"].update(k=EMPLOYEES, quasi_identifiers=["birth_year", "zip3"],
                             max_suppression=0.0, sensitive=[])
    (base / "strict-policy.yaml").write_text(yaml.safe_dump(policy))
    # the recipe as a user writes it: a copy of the shipped one, edited
    mp = pytest.MonkeyPatch()
    mp.setenv(ENV_API_KEY, test_admin_key)
    mp.setenv("PRIVTUNE_PROGRESS_EVERY", "0")
    ws = make_workspace(base / "ws")
    ws.close()
    assert run(["config", "copy", "own-export", str(base / "recipe.yaml")]) == 0
    recipe = yaml.safe_load((base / "recipe.yaml").read_text())
    assert recipe["export"]["dir"] == "./export"  # relative to the recipe file
    recipe["run"]["deid_policy"] = "strict-policy.yaml"
    recipe["dataset"] = {"tasks": ["ticket_triage", "policy_qa", "employee_fact"]}
    (base / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    yield {"base": base, "root": base / "ws", "mp": mp}
    mp.undo()


def _run(argv, capsys) -> tuple[int, str, str]:
    code = run(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_every_warning_appears(walked, capsys) -> None:
    base, root = walked["base"], walked["root"]
    code, _out, err = _run(["run", str(base / "recipe.yaml"), "--until", "dataset", "-w", str(root)],
                          capsys)
    assert code == 0, err
    summary = json.loads((root / "reports" / "run" / "summary.json").read_text())
    warnings = summary["warnings"]
    flat = " ".join(err.split())  # the warnings as printed on stderr (wrapped at 80 columns)

    def seen(*parts: str) -> None:
        hit = [w for w in warnings if all(p in w for p in parts)]
        assert hit, f"no warning with {parts} in {warnings}"
        assert "warning: " + " ".join(hit[0].split()) in flat

    # missing optional columns, and what each disables
    seen("employees", "'department'", "employee_fact examples about the department")
    seen("employees", "'performance_rating'", "attribute-inference probe")
    # generalisation that wipes a column out, with the information loss and the way out
    seen("'birth_year', 'zip3'", "away completely", "information loss", "privacy.quasi_identifiers")
    # examples dropped, per reason
    seen("3 of", "tickets give no ticket_triage example: no category")
    seen("column 'department' is not in the de-identified employees table")
    seen("examples name several employees and were left out")
    # inputs ingested but used by no example
    seen("reviews-deid@", "no training example uses it", "not an input of the training set")
    # the renamed columns were found (no error), and no one's name is in a warning
    import re

    with (base / "export" / "employees.csv").open(newline="", encoding="utf-8") as f:
        names = {r["Vorname"] for r in csv.DictReader(f)} | {"Vorname"}
    words = set(re.findall(r"[A-Za-z]+", " ".join(warnings)))
    assert not names & words

    # the lineage lists only what the examples were built from
    with Workspace.open(root) as ws:
        train = ws.vault.manifest(summary["stages"]["dataset"]["outputs"]["train"])
        parents = [p.split("@")[0] for p in train.parents]
    assert "employees-deid" in parents and "tickets-deid" in parents
    assert "reviews-deid" not in parents and "leave-deid" not in parents

    # a second run resumes: nothing is redone
    code, _out, err = _run(["run", str(base / "recipe.yaml"), "--until", "dataset", "-w", str(root)],
                          capsys)
    assert code == 0, err
    assert "ingest: done in an earlier run of this recipe (resumed)" in " ".join(err.split())
    again = json.loads((root / "reports" / "run" / "summary.json").read_text())
    assert again["resumed"] == ["ingest", "scan", "deidentify", "dataset"]
    assert again["stages"]["dataset"]["outputs"] == summary["stages"]["dataset"]["outputs"]
    assert "[ingest] started" not in err

    # --from reruns from a stage; an override changes the recipe: everything runs again
    code, _out, err = _run(["run", str(base / "recipe.yaml"), "--until", "dataset", "--from",
                           "dataset", "-w", str(root)], capsys)
    assert code == 0 and "[dataset] started" in err and "[ingest] started" not in err
    code, _out, err = _run(["run", str(base / "recipe.yaml"), "dataset.seed=3", "--until",
                           "dataset", "-w", str(root)], capsys)
    assert code == 0 and "[ingest] started" in err and "changed since the last run" in err


def test_train_before_a_dataset_gives_a_hint(walked, tmp_path, make_workspace, capsys) -> None:
    ws = make_workspace(tmp_path / "fresh")
    ws.close()
    code, _out, err = _run(["train", "tiny-demo", "-w", str(tmp_path / "fresh")], capsys)
    assert code == 4
    assert "dataset build" in err and "privtune run" in err
