"""``records dpia`` (issue 19): the DPIA evidence pack reads its figures from the workspace:
k-anonymity from the de-identification, HIPAA Safe Harbor per column from the policy's
operators and the schema roles, CCPA categories, the access matrix; no person's data in it;
records.read only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from privtune.access import admin
from privtune.access.roles import MATRIX
from privtune.cli.main import run
from privtune.errors import PermissionDenied
from privtune.pipeline.ropa import SAFE_HARBOR_IDENTIFIERS, dpia, write_dpia
from privtune.workspace import Workspace, init_workspace

from .conftest import SEED, _people, identifiers


@pytest.fixture(scope="module")
def deided(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.synth import generate_company

    root = tmp_path_factory.mktemp("dpia")
    generate_company(20, SEED, root / "export", fmt="csv")
    ws = init_workspace(root / "ws")
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role).secret
            for role in ("dpo", "auditor", "ml-engineer", "data-steward")}
    run_stages(ws, PipelineConfig(), root / "export", stop="deidentify")
    ws.close()
    return {"ws": root / "ws", "keys": keys, "people": _people(root / "export")}


@pytest.mark.slow
def test_dpia_pack_holds_the_measured_figures(deided: dict[str, Any], tmp_path: Path) -> None:
    with Workspace.open(deided["ws"], api_key=deided["keys"]["auditor"]) as ws:
        js, page = write_dpia(ws, tmp_path / "dpia.json")
    doc = json.loads(js.read_text())
    risks = {r["risk"].split(" ")[0]: r for r in doc["c_risks"]}
    assert doc["c_risks"][0]["figures"]["k_anonymity"]  # read from employees-deid's manifest
    hipaa = {h["identifier"]: h for h in doc["hipaa_safe_harbor"]}
    assert len(hipaa) == len(SAFE_HARBOR_IDENTIFIERS) == 18
    assert hipaa["G social security numbers"]["columns"]  # the export has an SSN column
    assert hipaa["E fax numbers"]["status"] == "not present in the export"
    assert hipaa["A names"]["status"] == "met"  # the default policy drops the name columns
    dates = {c["column"]: c["met"] for c in hipaa["C dates (except year) related to the individual"]["columns"]}
    assert dates["date_of_birth"] is True  # generalised to the year
    # pseudonymised employee ids are a keyed code derived from the id: not a Safe Harbor removal
    assert hipaa["R any other unique identifying number or code"]["status"] == "not met"
    for h in hipaa.values():
        for c in h["columns"]:
            assert c["met"] in (True, False, None) and c["operator"]
    assert "employees.ssn" in doc["ccpa"]["categories"]["sensitive personal information"]
    assert doc["ccpa"]["sold_or_shared"] is False
    access = next(r for r in doc["c_risks"] if "access" in r["risk"])["figures"]["access_matrix"]
    assert access == {r: sorted(o) for r, o in MATRIX.items()}
    assert risks and doc["a_systematic_description"]["held"]["employees"]["rows"] == 20
    text = js.read_text() + page.read_text()
    for row in deided["people"]["by_id"].values():
        for ident in identifiers(row):
            assert ident.lower() not in text.lower()


@pytest.mark.slow
def test_dpia_is_records_read_only(deided: dict[str, Any], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for role in ("ml-engineer", "data-steward"):
        with Workspace.open(deided["ws"], api_key=deided["keys"][role]) as ws, \
                pytest.raises(PermissionDenied):
            dpia(ws)
    monkeypatch.setenv("PRIVTUNE_API_KEY", deided["keys"]["dpo"])
    assert run(["records", "dpia", "--out", str(tmp_path / "d.json"), "-w", str(deided["ws"])]) == 0
    assert (tmp_path / "d.html").is_file()
    monkeypatch.setenv("PRIVTUNE_API_KEY", deided["keys"]["ml-engineer"])
    assert run(["records", "dpia", "--out", str(tmp_path / "n.json"), "-w", str(deided["ws"])]) == 7
    assert not (tmp_path / "n.json").exists()
