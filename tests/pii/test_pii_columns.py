"""Column classes: by name and by value evidence, and the evidence never quotes a value."""

from __future__ import annotations

import pyarrow as pa

from privtune.pii import classify_columns


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
