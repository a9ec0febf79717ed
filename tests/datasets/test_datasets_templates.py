"""Declarative templates (``dataset.templates``): they drive the examples and are validated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privtune.config import load_config
from privtune.datasets import build_examples, split_by_employee
from privtune.datasets.templates import TemplatesSpec
from privtune.errors import ConfigError
from privtune.pipeline.config import PipelineConfig

from .test_datasets_examples import EMPLOYEES, POLICY, TICKETS


def test_default_templates_reproduce_the_built_in_examples():
    assert build_examples(EMPLOYEES, TICKETS, {"leave": POLICY}, 3) == build_examples(
        EMPLOYEES, TICKETS, {"leave": POLICY}, 3, TemplatesSpec())


def test_custom_templates_shape_every_kind():
    t = TemplatesSpec.model_validate({
        "policy_qa": {"enabled": False},
        "employee_fact": {"system": "Staff helper.", "fields": {
            "department": {"questions": ["Dept of {e}?"], "answer": "{e}: {v}"},
            "manager_id": {"questions": ["Boss of {e}?"], "answer": "{v}", "value_is_employee": True},
        }},
        "ticket_triage": {"user": "Classify: {text}", "answer": "{category}", "max_chars": 40},
    })
    ex = build_examples(EMPLOYEES, TICKETS, {"leave": POLICY}, 0, t)
    kinds = {e["kind"] for e in ex}
    assert kinds == {"employee_fact", "ticket_triage"}
    facts = {e["id"]: e for e in ex if e["kind"] == "employee_fact"}
    assert set(facts) == {"employee_fact:EMP-aaaaaaaaaa:department",
                          "employee_fact:EMP-bbbbbbbbbb:department",
                          "employee_fact:EMP-bbbbbbbbbb:manager_id"}
    boss = facts["employee_fact:EMP-bbbbbbbbbb:manager_id"]
    assert boss["employee_ids"] == ["EMP-bbbbbbbbbb", "EMP-aaaaaaaaaa"]
    assert [m["content"] for m in boss["messages"]] == [
        "Staff helper.", "Boss of EMP-bbbbbbbbbb?", "EMP-aaaaaaaaaa"]
    (tri,) = [e for e in ex if e["kind"] == "ticket_triage"]
    assert tri["messages"][1]["content"].startswith("Classify: ")
    assert len(tri["messages"][1]["content"]) <= len("Classify: ") + 40 + 4
    assert tri["messages"][2]["content"] == "payroll" and tri["employee_ids"] == ["EMP-bbbbbbbbbb"]


@pytest.mark.parametrize("override,key", [
    ("dataset.templates.ticket_triage.answer=The label is {label}",
     "dataset.templates.ticket_triage.answer"),
    ("dataset.templates.policy_qa.questions=[What about {name}?]",
     "dataset.templates.policy_qa.questions"),
    ("dataset.templates.employee_fact.fields.department.questions=[Where is {e} {]",
     "dataset.templates.employee_fact.fields.department.questions"),
    ("dataset.templates.ticket_triage.colour=red", "dataset.templates.ticket_triage.colour"),
])
def test_bad_templates_name_the_key_and_the_allowed_placeholders(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(PipelineConfig, None, [override])
    assert err.value.key == key
    if key.endswith("answer") and "ticket" in key:
        assert "may only use the placeholders {category}" in str(err.value)
    if key.endswith("colour"):
        assert "allowed keys here: answer, enabled, max_chars, system, user" in str(err.value)


def test_all_kinds_disabled_is_refused():
    with pytest.raises(ConfigError, match="at least one template kind"):
        load_config(PipelineConfig, None, ["dataset.templates.policy_qa.enabled=false",
                                           "dataset.templates.employee_fact.enabled=false",
                                           "dataset.templates.ticket_triage.enabled=false"])


@given(seed=st.integers(0, 50), frac=st.floats(0.1, 0.8))
def test_no_validation_employee_is_in_any_training_example(seed, frac):
    ex = build_examples(EMPLOYEES * 1, TICKETS, {"leave": POLICY}, seed)
    s = split_by_employee(ex, frac, seed)
    train_ids = {e for x in s.train for e in x["employee_ids"]}
    assert not train_ids & s.val_employees
    assert all(set(x["employee_ids"]) <= s.val_employees for x in s.val)
