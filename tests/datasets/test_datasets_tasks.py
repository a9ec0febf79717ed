"""dataset.tasks: the DP recipe trains on population tasks, the non-private baseline on every
kind; one kind's examples do not change when another kind is left out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from privtune.datasets import build_examples
from privtune.datasets.examples import KINDS, POPULATION_KINDS
from privtune.dp.config import DPSpec
from privtune.pipeline.config import DP_DEFAULTS, DatasetSpec, PipelineConfig
from privtune.pipeline.dataset import dataset_tasks

POLICY = """# Leave Policy

## Entitlement

Every employee receives 20 days of annual leave per year.

## Carry-over

Up to 10 unused days may be carried over.
"""
EMPLOYEES = [
    {"employee_id": "EMP-aaaaaaaaaa", "manager_id": None, "department": "Executive",
     "job_title": "CEO", "salary_band": "290k-300k", "performance_rating": "4"},
    {"employee_id": "EMP-bbbbbbbbbb", "manager_id": "EMP-aaaaaaaaaa", "department": "Sales",
     "job_title": "Account Executive", "salary_band": "80k-90k", "performance_rating": "3"},
]
TICKETS = [{"id": "T1", "employee_id": "EMP-bbbbbbbbbb", "category": "payroll",
            "text": "My payslip shows [MONEY]."}]


def _kinds(examples):
    return sorted({ex["kind"] for ex in examples})


def test_the_dp_recipe_defaults_to_population_tasks_and_no_dp_to_every_kind():
    spec = DatasetSpec()
    assert dataset_tasks(spec, DPSpec(**DP_DEFAULTS)) == ("policy_qa", "ticket_triage")
    assert "employee_fact" not in POPULATION_KINDS
    assert dataset_tasks(spec, DPSpec(enabled=False)) == KINDS
    # an explicit list wins either way (the memorising baseline, a DP run on facts if asked)
    facts = DatasetSpec(tasks=["employee_fact", "ticket_triage"])
    assert dataset_tasks(facts, DPSpec(**DP_DEFAULTS)) == ("employee_fact", "ticket_triage")
    assert PipelineConfig().dataset.tasks is None


def test_unknown_or_empty_task_lists_are_config_errors():
    with pytest.raises(ValidationError, match="tasks"):
        DatasetSpec(tasks=["salary_lookup"])
    with pytest.raises(ValidationError, match="tasks"):
        DatasetSpec(tasks=[])
    with pytest.raises(ValueError, match="unknown task"):
        build_examples(EMPLOYEES, TICKETS, {"leave": POLICY}, seed=0, tasks=["nope"])


def test_tasks_filter_kinds_and_leave_the_other_kinds_unchanged():
    every = build_examples(EMPLOYEES, TICKETS, {"leave": POLICY}, seed=3)
    assert _kinds(every) == sorted(KINDS)
    pop = build_examples(EMPLOYEES, TICKETS, {"leave": POLICY}, seed=3, tasks=POPULATION_KINDS)
    assert _kinds(pop) == ["policy_qa", "ticket_triage"]
    # the same policy and triage examples, phrasing included, with or without the facts
    key = lambda ex: ex["id"]  # noqa: E731
    assert sorted(pop, key=key) == sorted((ex for ex in every if ex["kind"] != "employee_fact"),
                                          key=key)
    facts = build_examples(EMPLOYEES, TICKETS, {"leave": POLICY}, seed=3, tasks=["employee_fact"])
    assert sorted(facts, key=key) == sorted((ex for ex in every if ex["kind"] == "employee_fact"),
                                            key=key)
