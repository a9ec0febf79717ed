"""The ingest layer reads every format the synthetic company generator writes, identically."""

from __future__ import annotations

import pytest

import privtune.synth as synth
from privtune.ingest import discover_export, read_table, read_texts
from privtune.pii.mapping import mapping_for_table


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_reads_generated_company(tmp_path, fmt):
    synth.generate_company(20, 3, tmp_path, fmt=fmt)
    ex = discover_export(tmp_path)
    emp = read_table(ex.employees)
    roles = mapping_for_table(emp)
    assert roles.column("employee_id") == "employee_id" and roles.column("first_name") == "first_name"
    assert emp.num_rows == 20
    assert emp.column("employee_id").to_pylist()[0] == "E00001"
    assert all(len(z) == 5 for z in emp.column("zip").to_pylist())
    leave = mapping_for_table(read_table(ex.leave))
    assert [leave.column(r) for r in ("record_id", "employee_id", "start_date", "end_date", "leave_type")] == \
        ["leave_id", "employee_id", "start_date", "end_date", "leave_type"]
    assert read_texts(ex.tickets) and read_texts(ex.reviews)
    assert ex.policies and all(ex.read_policies().values())


def test_formats_agree(tmp_path):
    tables = {}
    for fmt in ("csv", "json", "parquet"):
        synth.generate_company(20, 3, tmp_path / fmt, fmt=fmt)
        tables[fmt] = read_table(discover_export(tmp_path / fmt).employees).to_pylist()
    rows = tables["csv"]
    for fmt in ("json", "parquet"):
        for a, b in zip(rows, tables[fmt]):
            for key in ("employee_id", "zip", "phone", "ssn", "first_name", "manager_id", "date_of_birth"):
                assert a[key] == b[key], (fmt, key)
