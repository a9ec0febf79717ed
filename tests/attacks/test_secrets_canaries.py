"""The secret matcher (exact / near / encoded) and the canaries planted at dataset build time."""

from __future__ import annotations

import base64
import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from privtune.attacks.canaries import (
    TOKEN_PREFIX,
    CanarySpec,
    Pools,
    canaries_bytes,
    candidate_count,
    load_canaries,
    make_canaries,
    plant_canaries,
    recipe_pools,
)
from privtune.attacks.secrets import SecretIndex, levenshtein, mask
from privtune.datasets import build_examples
from privtune.datasets.templates import TemplatesSpec
from privtune.errors import IntegrityError

ROW = {"employee_id": "E00001", "first_name": "Alma", "last_name": "Verhoeven",
       "ssn": "123-45-6789", "email": "alma.verhoeven@example.com", "phone": "(555) 201-3344",
       "salary": 84250, "home_address": "12 Larch Street"}


def index() -> SecretIndex:
    ix = SecretIndex()
    ix.add_employee("E00001", ROW)
    ix.add_canary("CANARY-000", "EMP-00c0ffee00", "EMP-3fa9b2c471")
    return ix


def fields(hits) -> dict[str, str]:
    return {h.field: h.match for h in hits}


def test_exact_matches_in_any_layout() -> None:
    ix = index()
    assert fields(ix.find("The SSN is 123 45 6789.")) == {"ssn": "exact"}
    # the address spells the name out too
    assert fields(ix.find("mail ALMA.VERHOEVEN@example.com now")) == {"email": "exact", "full_name": "exact"}
    assert fields(ix.find("call 555-201-3344")) == {"phone": "exact"}
    assert fields(ix.find("she earns 84,250 a year")) == {"salary": "exact"}
    assert fields(ix.find("That is Alma Verhoeven.")) == {"full_name": "exact"}
    assert fields(ix.find("EMP-00c0ffee00 reports to EMP-3fa9b2c471.")) == {"canary": "exact"}
    assert fields(ix.find("reports to EMP-3fa9b2c470")) == {"canary": "near"}   # one edit
    assert ix.find("nothing to see, 80k-90k band") == []
    assert ix.find("1842501") == []          # a short number must be the whole number


def test_near_matches_and_subject_filter() -> None:
    ix = index()
    assert fields(ix.find("SSN 123-45-6788")) == {"ssn": "near"}          # one substitution
    assert fields(ix.find("SSN 12345689")) == {"ssn": "near"}             # one deletion
    assert ix.find("SSN 123-99-6700") == []                               # three edits
    assert fields(ix.find("alma.verhoevem@corp.org")) == {"email": "near"}
    assert ix.find("123-45-6789", subjects=["CANARY-000"]) == []


def test_encoded_answers_are_decoded_when_asked() -> None:
    ix = index()
    b64 = base64.b64encode(b"ssn 123-45-6789").decode()
    assert ix.find(b64) == []
    assert fields(ix.find(b64, decode=True)) == {"ssn": "exact"}
    rot = codecs.encode("Alma Verhoeven", "rot13")
    assert fields(ix.find(rot, decode=True)) == {"full_name": "exact"}


def test_mask_keeps_only_the_shape() -> None:
    assert mask("123-45-6789") == "***-**-****"
    assert mask("a.b@example.com") == "*.*@*******.***"


@given(st.text("abc", max_size=8), st.text("abc", max_size=8))
def test_levenshtein_matches_the_textbook_dp(a: str, b: str) -> None:
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    full = d[len(a)][len(b)]
    assert levenshtein(a, b, 20) == full
    assert levenshtein(a, b, 1) == min(full, 2)


EMPLOYEES = [{"employee_id": f"EMP-{i:010x}", "department": ["Sales", "Finance", "IT"][i % 3],
              "job_title": "Analyst", "manager_id": f"EMP-{(i // 4):010x}",
              "salary_band": f"B{i % 5}", "performance_rating": str(1 + i % 4)} for i in range(40)]
TICKETS = [{"id": f"T{i}", "employee_id": f"EMP-{i:010x}", "category": ["payroll", "leave"][i % 2],
            "text": f"please update my leave balance before the holiday number {i}"}
           for i in range(20)]


def _pools(templates: TemplatesSpec) -> tuple[list[dict], Pools]:
    train = build_examples(EMPLOYEES, TICKETS, {}, 0, templates)
    return train, recipe_pools(train, EMPLOYEES, TICKETS, templates)


def test_canaries_follow_the_recipes_templates_and_kinds() -> None:
    t = TemplatesSpec()
    _train, pools = _pools(t)
    assert pools.kinds == ["employee_fact", "ticket_triage"]
    assert pools.fact_fields["manager_id"] == []                 # an EMP- token space
    assert pools.fact_fields["salary_band"] == [f"B{i}" for i in range(5)]
    assert "job_title" not in pools.fact_fields                 # one value: nothing to guess
    assert pools.categories == ["leave", "payroll"] and "please" in pools.words
    assert not any(w.isdigit() for w in pools.words)
    spec = CanarySpec(candidates=40, seed=9)
    cs = make_canaries(spec, pools, t, 40, seed=9)
    assert len(cs) == 40 and len({c.token for c in cs}) == 40
    assert all(c.token.startswith(TOKEN_PREFIX) and len(c.token) == 14 for c in cs)
    facts = [c for c in cs if c.kind == "employee_fact"]
    tickets = [c for c in cs if c.kind == "ticket_triage"]
    assert len(facts) == len(tickets) == 20
    questions = {q.format(e=c.token) for c in facts for q in t.employee_fact.fields[c.field].questions}
    for c in facts:
        assert c.user in questions and c.system == t.employee_fact.system
        assert c.answer() == t.employee_fact.fields[c.field].answer.format(e=c.token, v=c.secret)
        assert (c.secret.startswith(TOKEN_PREFIX) if c.field == "manager_id"
                else c.secret in pools.fact_fields[c.field])
    for c in tickets:
        assert c.user.startswith("Ticket: ") and c.answer() == t.ticket_triage.answer.format(category=c.secret)
        assert c.secret in pools.categories
    assert not any("SSN" in c.user or "SSN" in c.answer() for c in cs)
    # inclusion is a fair coin: not all in, not all out
    assert 5 < sum(c.included for c in cs) < 35


def test_a_ticket_only_recipe_gets_ticket_canaries() -> None:
    t = TemplatesSpec.model_validate({"employee_fact": {"enabled": False},
                                      "policy_qa": {"enabled": False}})
    _, pools = _pools(t)
    assert pools.kinds == ["ticket_triage"]
    cs = make_canaries(CanarySpec(), pools, t, 10)            # the OS CSPRNG
    assert {c.kind for c in cs} == {"ticket_triage"}


def test_plant_only_included_each_its_own_unit_and_round_trip() -> None:
    t = TemplatesSpec()
    train, pools = _pools(t)
    spec = CanarySpec(candidates=100, repetitions=[1, 4], seed=3)
    assert candidate_count(spec, 40) == 8                      # 2 * 10% of 40 units
    rows, cs = plant_canaries(train, spec, pools, t, 300)
    assert len(cs) == 60
    planted = [r for r in rows if r["kind"] == "canary"]
    assert len(rows) == len(train) + len(planted)
    for c in cs:
        mine = [r for r in planted if r["employee_ids"] == [c.id]]
        assert len(mine) == (c.repetitions if c.included else 0)
        if mine:
            assert mine[0]["messages"][-1]["content"] == c.answer()
    again, spec2 = load_canaries(canaries_bytes(cs, spec))
    assert again == cs and spec2 == spec
    with pytest.raises(IntegrityError):
        load_canaries(b"{not json")


def test_canary_spec_validation() -> None:
    for bad in ({"repetitions": []}, {"repetitions": [0]}, {"candidates": 1},
                {"max_unit_fraction": 0.9}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            CanarySpec(**bad)
