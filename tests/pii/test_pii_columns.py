"""Column classes: by name and by value evidence, and the evidence never quotes a value."""

from __future__ import annotations

import pyarrow as pa

from privtune.pii import classify_columns


def test_classify_columns(two_employees):
    classes = {k: v.kind for k, v in classify_columns(two_employees).items()}
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
