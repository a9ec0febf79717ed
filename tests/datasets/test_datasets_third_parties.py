"""Third parties named in texts: de-identification records who a text still names (linkably),
the dataset build replaces them with non-linkable placeholders by default, and counts them
(and the split holds them apart) when their surrogates are kept.

The attack (issue 14, finding 3): a ticket about a colleague sits in its author's unit under a
surrogate of the colleague that is consistent across units, so the colleague's data is in
several units and "epsilon 8 per employee" does not hold for them.
"""

from __future__ import annotations

from privtune.datasets.examples import (
    MENTIONS_KEY,
    PLACEHOLDER_EMPLOYEE,
    PLACEHOLDER_PERSON,
    build_examples,
    triage_examples,
)
from privtune.datasets.split import split_by_employee
from privtune.deid import Deidentifier, KeyedHash, PersonIndex, load_policy
from privtune.deid.engine import MENTIONS_KEY as DEID_MENTIONS_KEY
from privtune.deid.operators.pseudonymize import pseudonym
from privtune.dp.units import build_units
from privtune.pii import Roster

KEY = b"0123456789abcdef0123456789abcdef"
# Tom (E00002) writes about his manager Maria (E00001) and his partner; Maria writes one too.
TICKETS = [
    {"id": "T1", "employee_id": "E00002", "category": "leave",
     "text": "My manager Maria Garcia approved my leave; I am Tom Okafor."},
    {"id": "T2", "employee_id": "E00002", "category": "benefits",
     "text": "Please add my husband Jonathan Whitfield-Prescott to my dental plan."},
    {"id": "T3", "employee_id": "E00001", "category": "payroll",
     "text": "My payslip is wrong, says Maria Garcia."},
]


def _deid(two_employees) -> tuple[Deidentifier, list[dict]]:
    d = Deidentifier(load_policy(None), KEY, people=PersonIndex.from_rows(two_employees.to_pylist()),
                     roster=Roster.from_employees(two_employees))
    return d, d.records(TICKETS, workers=1)[0]


def test_the_mentions_key_is_the_one_deid_writes():
    assert MENTIONS_KEY == DEID_MENTIONS_KEY


def test_deid_records_linkable_third_party_mentions(two_employees):
    _, out = _deid(two_employees)
    maria, tom = pseudonym(KeyedHash(KEY), "E00001"), pseudonym(KeyedHash(KEY), "E00002")
    t1 = out[0]
    assert t1["employee_id"] == tom
    (m,) = t1[MENTIONS_KEY]  # Maria only: Tom naming himself is his own data
    assert (m["field"], m["person"], m["employee"]) == ("text", maria, True)
    surrogate = t1["text"][m["start"]:m["end"]]
    assert surrogate and "Maria" not in surrogate and "Garcia" not in surrogate
    # the surrogate is consistent: Maria's own ticket carries the same one (linkable)
    assert surrogate in out[2]["text"] and out[2][MENTIONS_KEY] == []
    (rel,) = out[1][MENTIONS_KEY]
    assert rel["employee"] is False and rel["person"] not in (maria, tom)
    assert "Jonathan" not in str(out)  # the raw name never appears, in text or mentions


def test_placeholders_by_default_leave_nothing_linkable(two_employees):
    _, out = _deid(two_employees)
    ex = {e["id"]: e for e in triage_examples(out)}
    t1 = ex["ticket_triage:T1"]["messages"][1]["content"]
    surrogate = out[0]["text"][out[0][MENTIONS_KEY][0]["start"]:out[0][MENTIONS_KEY][0]["end"]]
    assert PLACEHOLDER_EMPLOYEE in t1 and surrogate not in t1
    assert PLACEHOLDER_PERSON in ex["ticket_triage:T2"]["messages"][1]["content"]
    assert all(e["mentions"] == [] for e in ex.values())
    units = build_units([e["employee_ids"] for e in ex.values()], "employee", "drop",
                        [e["mentions"] for e in ex.values()])
    assert units.max_group_size == 1


def test_surrogates_kept_count_towards_group_size(two_employees):
    _, out = _deid(two_employees)
    ex = triage_examples(out, third_parties="surrogate")
    maria = pseudonym(KeyedHash(KEY), "E00001")
    assert ex[0]["mentions"] == [maria]
    units = build_units([e["employee_ids"] for e in ex], "employee", "drop",
                        [e["mentions"] for e in ex])
    # Maria's data sits in her own unit and in Tom's: group size 2 (the attack, counted)
    assert units.max_group_size == 2
    assert {e["id"]: e["mentions"] for e in build_examples([], out, {}, 0, third_parties="surrogate")
            if e["kind"] == "ticket_triage"}["ticket_triage:T1"] == [maria]


def test_split_holds_a_named_colleague_apart_like_a_listed_one():
    # a's training ticket names b; with b held out it must not go to training
    ex = [{"id": "1", "employee_ids": ["a"], "mentions": ["b"]},
          {"id": "2", "employee_ids": ["b"]},
          {"id": "3", "employee_ids": ["a"], "mentions": ["PER-relative"]}]
    for seed in range(20):
        s = split_by_employee(ex, 0.5, seed)
        if s.val_employees == {"b"}:
            assert [e["id"] for e in s.train] == ["3"] and s.dropped == 1
            break
    else:
        raise AssertionError("no seed held out b")
