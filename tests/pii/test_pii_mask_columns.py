"""Masking, keyed pseudonyms, column classes and scan reports (which must hold no values)."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest

from privtune.errors import ConfigError
from privtune.pii import (
    Pseudonymizer,
    Roster,
    Span,
    classify_columns,
    deidentify_employees,
    deidentify_texts,
    detect,
    mask_text,
    scan_table,
    scan_texts,
)

KEY = b"0123456789abcdef0123456789abcdef"


def test_mask_text():
    text = "Mail bob@x.com now"
    assert mask_text(text, [Span(5, 14, "EMAIL")]) == "Mail [EMAIL] now"
    assert mask_text(text, []) == text
    assert mask_text(text, [Span(0, 4, "PERSON"), Span(2, 8, "EMAIL")]) == "[EMAIL]@x.com now"


def test_pseudonymizer_deterministic_and_keyed():
    p = Pseudonymizer(KEY)
    t = p.token("E00042")
    assert re.fullmatch(r"EMP-[0-9a-f]{10}", t)
    assert p.token("E00042") == t == Pseudonymizer(KEY).token(" E00042 ")
    assert p.token("E00043") != t
    assert Pseudonymizer(b"another key of 16+ bytes").token("E00042") != t
    assert p.token("E00042", kind="MGR").startswith("MGR-") and p.token("E00042", kind="MGR")[4:] != t[4:]
    assert "0123" not in repr(p)
    with pytest.raises(ConfigError):
        Pseudonymizer(b"short")
    with pytest.raises(ConfigError):
        Pseudonymizer("a string key of enough length")  # type: ignore[arg-type]


def _employees():
    return pa.table(
        {
            "employee_id": ["E00001", "E00002"],
            "first_name": ["Maria", "Tom"],
            "last_name": ["Garcia", "Okafor"],
            "email": ["maria.garcia@acme.com", "tom.okafor@acme.com"],
            "phone": ["(415) 372-0134", "(212) 555-0199"],
            "ssn": ["123-45-6789", "234-56-7890"],
            "date_of_birth": ["1985-03-14", "1990-12-01"],
            "zip": ["02134", "10001"],
            "department": ["Sales", "Legal"],
            "manager_id": [None, "E00001"],
            "salary": ["85000", "123456"],
            "iban": ["DE89370400440532013000", "GB82WEST12345698765432"],
            "emergency_contact_name": ["Carlos Garcia", "Ada Okafor"],
            "notes": ["Maria Garcia prefers remote work on Fridays in the summer", "Tom Okafor asked about parking passes again"],
            "shirt_size": ["M", "L"],
        }
    )


def test_classify_columns():
    classes = {k: v.kind for k, v in classify_columns(_employees()).items()}
    assert classes["first_name"] == classes["email"] == classes["ssn"] == classes["iban"] == "direct_identifier"
    assert classes["employee_id"] == classes["manager_id"] == classes["emergency_contact_name"] == "direct_identifier"
    assert classes["date_of_birth"] == classes["zip"] == classes["department"] == "quasi_identifier"
    assert classes["salary"] == "sensitive"
    assert classes["notes"] == "free_text"
    assert classes["shirt_size"] == "non_personal"
    # value evidence beats a harmless name, and evidence never quotes values
    t = pa.table({"contact": ["a@b.com", "c@d.org", "e@f.net"]})
    cls = classify_columns(t)["contact"]
    assert cls.kind == "direct_identifier" and "EMAIL" in cls.evidence and "@" not in cls.evidence


def test_scan_reports_counts_not_values():
    t = _employees()
    r = Roster.from_employees(t)
    report = scan_table(t, r)
    assert report["rows"] == 2
    assert report["columns"]["email"]["types"] == {"EMAIL": 2}
    assert report["columns"]["notes"]["cells_with_pii"] == 2
    assert report["types"]["SSN"] == 2
    texts = [{"id": "1", "text": "Maria Garcia, SSN 123-45-6789"}, {"id": "2", "text": "nothing here"}]
    rep2 = scan_texts(texts, r)
    assert rep2 == {"records": 2, "records_with_pii": 1, "spans": 2, "types": {"PERSON": 1, "SSN": 1}}
    dumped = json.dumps([report, rep2])
    for value in ("Maria", "Garcia", "123-45-6789", "acme.com", "02134", "85000", "DE89"):
        assert value not in dumped


def test_deidentify_employees():
    p = Pseudonymizer(KEY)
    out = deidentify_employees(_employees(), p).to_pylist()
    assert out[0]["employee_id"] == p.token("E00001") == out[1]["manager_id"]
    assert out[0]["manager_id"] is None
    assert out[0]["birth_year"] == 1985 and out[0]["zip3"] == "021"
    assert out[0]["salary_band"] == "80k-90k" and out[1]["salary_band"] == "120k-130k"
    assert out[0]["department"] == "Sales" and out[0]["shirt_size"] == "M"
    for gone in ("first_name", "email", "phone", "ssn", "iban", "date_of_birth", "zip", "salary", "notes",
                 "emergency_contact_name"):
        assert gone not in out[0]


def test_deidentify_texts():
    p = Pseudonymizer(KEY)
    r = Roster.from_employees(_employees())
    recs = [{"id": "T1", "employee_id": "E00002", "category": "payroll",
             "text": "Hi, I'm Tom (E00002), call 212.555.0199 or tom.okafor@acme.com; manager GARCIA, MARIA."}]
    out = deidentify_texts(recs, r, p)
    assert out[0]["employee_id"] == p.token("E00002")
    assert out[0]["text"] == "Hi, I'm [PERSON] ([EMPLOYEE_ID]), call [PHONE] or [EMAIL]; manager [PERSON]."
    assert out[0]["category"] == "payroll" and recs[0]["employee_id"] == "E00002"
    assert detect(out[0]["text"], r) == []
