"""The one de-identification path on a small employees table and a ticket: tokens, placeholders,
the shipped default policy, and scan reports that hold counts, never values.

Ported from the tests of the superseded ``privtune.pii`` de-identification (``deidentify``,
``mask_text``, ``Pseudonymizer``, ``scan``), now all done by :mod:`privtune.deid`.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest

from privtune.deid import Deidentifier, KeyedHash, PersonIndex, load_policy, parse_policy
from privtune.deid.operators.pseudonymize import pseudonym
from privtune.deid.scan import table_report, texts_report
from privtune.errors import ConfigError
from privtune.pii import Roster, Span, detect, resolve_overlaps

KEY = b"0123456789abcdef0123456789abcdef"
# Every span becomes its ``[TYPE]`` placeholder; person ids become tokens.
REDACT = parse_policy({
    "columns": {"employee_id": {"operator": "pseudonymize", "kind": "EMP"},
                "manager_id": {"operator": "pseudonymize", "kind": "EMP"}},
    "entities": {"default": {"operator": "redact"}},
})


def _deid(t: pa.Table, policy=None) -> Deidentifier:
    return Deidentifier(policy or load_policy(None), KEY, people=PersonIndex.from_rows(t.to_pylist()),
                        roster=Roster.from_employees(t))


def test_redact_replaces_spans_with_placeholders(two_employees):
    d = _deid(two_employees, REDACT)
    text = "Mail bob@x.com now"
    assert d.replace(text, [Span(5, 14, "EMAIL")]) == "Mail [EMAIL] now"
    assert d.replace(text, []) == text
    spans = resolve_overlaps([Span(0, 4, "PERSON"), Span(2, 8, "EMAIL")])
    assert d.replace(text, spans) == "[EMAIL]@x.com now"


def test_pseudonym_deterministic_and_keyed():
    keyed = KeyedHash(KEY)
    t = pseudonym(keyed, "E00042")
    assert re.fullmatch(r"EMP-[0-9a-f]{10}", t)
    assert pseudonym(keyed, "E00042") == t == pseudonym(KeyedHash(KEY), " E00042 ")
    assert pseudonym(keyed, "E00043") != t
    assert pseudonym(KeyedHash(b"another key of 16+ bytes"), "E00042") != t
    # one person, one hex part in every kind (joins across columns and texts)
    assert pseudonym(keyed, "E00042", kind="MGR") == "MGR-" + t[4:]
    assert "0123" not in repr(keyed)
    with pytest.raises(ConfigError):
        KeyedHash(b"short")
    with pytest.raises(ConfigError):
        KeyedHash("a string key of enough length")  # type: ignore[arg-type]


def test_default_policy_on_employees(two_employees):
    out = _deid(two_employees).table(two_employees).table.to_pylist()
    token = pseudonym(KeyedHash(KEY), "E00001")
    assert out[0]["employee_id"] == token == out[1]["manager_id"]
    assert out[0]["manager_id"] is None
    assert out[0]["birth_year"] == "1985" and out[0]["zip3"] == "021"
    assert out[0]["salary_band"] == "80k-90k" and out[1]["salary_band"] == "120k-130k"
    assert out[0]["department"] == "Sales" and out[0]["shirt_size"] == "M"
    for gone in ("first_name", "email", "phone", "ssn", "iban", "date_of_birth", "zip", "salary",
                 "emergency_contact_name"):
        assert gone not in out[0]
    # free text is kept, scrubbed by the entity rules
    assert "Garcia" not in out[0]["notes"] and "Okafor" not in out[1]["notes"]


def test_redact_policy_on_texts(two_employees):
    recs = [{"id": "T1", "employee_id": "E00002", "category": "payroll",
             "text": "Hi, I'm Tom (E00002), call 212.555.0199 or tom.okafor@acme.com; manager GARCIA, MARIA."}]
    out, _ = _deid(two_employees, REDACT).records(recs, workers=1)
    assert out[0]["employee_id"] == pseudonym(KeyedHash(KEY), "E00002")
    assert out[0]["text"] == "Hi, I'm [PERSON] ([EMPLOYEE_ID]), call [PHONE] or [EMAIL]; manager [PERSON]."
    assert out[0]["category"] == "payroll" and recs[0]["employee_id"] == "E00002"
    assert detect(out[0]["text"], Roster.from_employees(two_employees)) == []


def test_default_policy_on_texts_uses_the_column_token(two_employees):
    recs = [{"id": "T1", "employee_id": "E00002", "text": "Ticket from E00002, SSN 234-56-7890."}]
    out, _ = _deid(two_employees).records(recs, workers=1)
    token = pseudonym(KeyedHash(KEY), "E00002")
    assert out[0]["employee_id"] == token
    assert out[0]["text"] == f"Ticket from {token}, SSN [SSN]."


def test_scan_reports_counts_not_values(two_employees):
    t = two_employees
    r = Roster.from_employees(t)
    report = table_report(t, load_policy(None), r)
    assert report["rows"] == 2
    assert report["columns"]["email"]["types"] == {"EMAIL": 2}
    assert report["columns"]["notes"]["cells_with_pii"] == 2
    assert report["columns"]["ssn"]["types"] == {"SSN": 2}
    texts = [{"id": "1", "text": "Maria Garcia, SSN 123-45-6789"}, {"id": "2", "text": "nothing here"}]
    rep2 = texts_report(texts, r, workers=1)
    assert {k: rep2[k] for k in ("records", "records_with_pii", "spans", "types")} == \
        {"records": 2, "records_with_pii": 1, "spans": 2, "types": {"PERSON": 1, "SSN": 1}}
    dumped = json.dumps([report, rep2])
    for value in ("Maria", "Garcia", "123-45-6789", "acme.com", "02134", "85000", "DE89"):
        assert value not in dumped


def test_scan_counts_no_person_in_structured_columns() -> None:
    """Issue 18: a city like 'East Linda' holds an employee's first name, but the column's role
    says it is a city: the name detector's PERSON hits there (and in ethnicity) are not
    reported; a free-text column still reports them."""
    t = pa.table({"employee_id": ["E00001", "E00002", "E00003"],
                  "first_name": ["Linda", "Jordan", "Grace"],
                  "last_name": ["Castro", "Russell", "White"],
                  "ethnicity": ["White", "Asian", "Black"],
                  "city": ["East Linda", "Jordan", "Grace Town"],
                  "notes": ["met Linda Castro", "call Jordan Russell", "fine"]})
    r = Roster.from_employees(t)
    report = table_report(t, load_policy(None), r)
    for col in ("ethnicity", "city"):
        assert "PERSON" not in report["columns"][col]["types"], (col, report["columns"][col])
    assert report["columns"]["notes"]["types"].get("PERSON", 0) >= 1
