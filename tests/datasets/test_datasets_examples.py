"""build_examples: three kinds, chat format, deterministic, short, ids as documented."""

from __future__ import annotations

import json

import pytest

from privtune.datasets import MAX_TOKENS, build_examples, example_tokens, parse_policy

POLICY = """# Acme Annual Leave Policy

## Entitlement

Every full-time employee receives **20 days** of annual leave per year. Part-time staff get a share.

## Carry-over

- Up to 10 unused days may be carried over. They expire in March.
- Another rule.

## Empty
"""

EMPLOYEES = [
    {"employee_id": "EMP-aaaaaaaaaa", "manager_id": None, "department": "Executive", "job_title": "CEO",
     "salary_band": "290k-300k", "performance_rating": "4"},
    {"employee_id": "EMP-bbbbbbbbbb", "manager_id": "EMP-aaaaaaaaaa", "department": "Sales",
     "job_title": "Account Executive", "salary_band": "80k-90k", "performance_rating": "3"},
]
TICKETS = [
    {"id": "T1", "employee_id": "EMP-bbbbbbbbbb", "category": "payroll",
     "text": "My payslip shows [MONEY]. Thanks, [PERSON]. " * 20},
    {"id": "T2", "employee_id": "EMP-aaaaaaaaaa", "category": None, "text": "no category"},
]


def test_parse_policy_key_sentences():
    secs = parse_policy("annual-leave", POLICY)
    assert [s.heading for s in secs] == ["Entitlement", "Carry-over"]
    assert secs[0].title == "Acme Annual Leave Policy"
    assert secs[0].key_sentence == "Every full-time employee receives 20 days of annual leave per year."
    assert secs[1].key_sentence == "Up to 10 unused days may be carried over."


def test_build_examples_kinds_and_shape():
    ex = build_examples(EMPLOYEES, TICKETS, {"annual-leave": POLICY}, seed=3)
    kinds = {}
    for e in ex:
        kinds.setdefault(e["kind"], []).append(e)
        assert [m["role"] for m in e["messages"]] == ["system", "user", "assistant"]
        assert all(m["content"] for m in e["messages"])
        assert example_tokens(e) <= MAX_TOKENS
    assert set(kinds) == {"policy_qa", "employee_fact", "ticket_triage"}
    assert len({e["id"] for e in ex}) == len(ex)
    assert all(e["employee_ids"] == [] for e in kinds["policy_qa"])
    assert len(kinds["policy_qa"]) == 4  # 2 sections x 2 phrasings
    facts = {e["id"]: e for e in kinds["employee_fact"]}
    mgr = facts["employee_fact:EMP-bbbbbbbbbb:manager_id"]
    assert mgr["employee_ids"] == ["EMP-bbbbbbbbbb", "EMP-aaaaaaaaaa"]
    assert "EMP-aaaaaaaaaa" in mgr["messages"][2]["content"]
    assert facts["employee_fact:EMP-bbbbbbbbbb:salary_band"]["employee_ids"] == ["EMP-bbbbbbbbbb"]
    assert "employee_fact:EMP-aaaaaaaaaa:manager_id" not in facts  # no manager
    (t,) = kinds["ticket_triage"]
    assert t["employee_ids"] == ["EMP-bbbbbbbbbb"] and t["messages"][2]["content"] == "payroll"
    assert t["messages"][1]["content"].endswith("...")


def test_deterministic_for_seed():
    a = build_examples(EMPLOYEES, TICKETS, {"p": POLICY}, seed=1)
    b = build_examples(list(reversed(EMPLOYEES)), TICKETS, {"p": POLICY}, seed=1)
    assert json.dumps(a) == json.dumps(b)
    c = build_examples(EMPLOYEES, TICKETS, {"p": POLICY}, seed=2)
    assert json.dumps(a) != json.dumps(c)


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_pipeline_on_generated_company(tmp_path):
    import privtune.synth as synth
    from privtune.deid import Deidentifier, PersonIndex, load_policy
    from privtune.ingest import discover_export, read_table, read_texts
    from privtune.pii import Roster

    synth.generate_company(60, 5, tmp_path)
    ex = discover_export(tmp_path)
    emp = read_table(ex.employees)
    d = Deidentifier(load_policy(None), b"k" * 32, people=PersonIndex.from_rows(emp.to_pylist()),
                     roster=Roster.from_employees(emp))
    examples = build_examples(
        d.table(emp).table.to_pylist(),
        d.records(read_texts(ex.tickets), workers=1)[0],
        ex.read_policies(),
        seed=0,
    )
    assert {e["kind"] for e in examples} == {"policy_qa", "employee_fact", "ticket_triage"}
    assert max(example_tokens(e) for e in examples) <= MAX_TOKENS
    blob = json.dumps(examples)
    for row in emp.to_pylist():
        assert row["employee_id"] not in blob
        assert row["email"] not in blob and row["ssn"] not in blob
        assert f'{row["first_name"]} {row["last_name"]}' not in blob
