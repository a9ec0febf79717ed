"""Person-level DP on the demo company: under the DP default every person's data sits in one
privacy unit (so the person-level epsilon is the unit-level one); with relation examples in each
unit and consistent surrogates kept, managers and named colleagues are in several units and the
person-level epsilon is far larger, and reported."""

from __future__ import annotations

import pytest

from privtune.config import load_config
from privtune.datasets.examples import PLACEHOLDER_EMPLOYEE
from privtune.dp.plan import make_plan
from privtune.io import read_jsonl
from privtune.pipeline.config import CompanySpec, PipelineConfig
from privtune.pipeline.run import run_stages
from privtune.synth import generate_company

pytestmark = pytest.mark.slow  # the demo's 300-person company, de-identified (about a minute)


def test_demo_company_dp_default_keeps_every_person_in_one_unit(workspace, tmp_path) -> None:
    company = CompanySpec()  # the demo's company: 300 employees, seed 7
    generate_company(company.employees, company.seed, tmp_path / "export", fmt="csv")
    cfg = PipelineConfig()  # the DP recipe
    assert cfg.dp.enabled and cfg.dp.multi_employee == "drop"
    stages = run_stages(workspace, cfg, tmp_path / "export", stop="dataset", skip=("scan",))
    ds = stages.dataset
    assert ds is not None
    assert ds.record.max_group_size == 1 and set(ds.record.group_sizes or {}) == {"1"}
    # the DP recipe trains population tasks only: no relation (manager) facts to drop
    assert ds.figures["max_group_size"] == 1 and ds.figures["dropped_shared_examples"] == 0
    meta = workspace.vault.manifest(ds.record.train).meta
    assert meta["max_group_size"] == 1 and meta["group_sizes"] == ds.record.group_sizes
    train = read_jsonl(workspace.vault, ds.record.train)
    assert all(len(ex["employee_ids"]) == 1 for ex in train if ex["employee_ids"])
    assert all(not ex.get("mentions") for ex in train)
    assert any(PLACEHOLDER_EMPLOYEE in ex["messages"][1]["content"] for ex in train
               if ex["kind"] == "ticket_triage")
    plan = make_plan(cfg.dp, [ex["employee_ids"] for ex in train], cfg.train.steps,
                     [ex.get("mentions") or [] for ex in train])
    rec = plan.record()
    assert rec["group_size"] == 1 and rec["epsilon_person"] == rec["epsilon"] <= 8.0

    # The attack: relation facts (employee_fact examples name a manager) in each unit, with
    # consistent surrogates of named colleagues.
    each = load_config(PipelineConfig, None, [
        "dp.multi_employee=each", "dataset.third_parties=surrogate",
        "dataset.tasks=[ticket_triage, policy_qa, employee_fact]"])
    wide = run_stages(workspace, each, None, start="dataset", stop="dataset").dataset
    assert wide is not None and wide.record.max_group_size > 3  # managers: 1 + reports
    assert sum((wide.record.group_sizes or {}).values()) >= company.employees * 0.7
    train2 = read_jsonl(workspace.vault, wide.record.train)
    plan2 = make_plan(each.dp, [ex["employee_ids"] for ex in train2], each.train.steps,
                      [ex.get("mentions") or [] for ex in train2])
    rec2 = plan2.record()
    assert rec2["group_size"] == wide.record.max_group_size
    assert rec2["epsilon"] <= 8.0 < 3 * rec2["epsilon"] < rec2["epsilon_person"]
