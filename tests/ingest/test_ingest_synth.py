"""The ingest layer reads every format the synthetic company generator writes, identically."""

from __future__ import annotations

import pytest

import privtune.synth as synth
from privtune.ingest import REQUIRED_COLUMNS, discover_export, read_table, read_texts


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_reads_generated_company(tmp_path, fmt):
    synth.generate_company(20, 3, tmp_path, fmt=fmt)
    ex = discover_export(tmp_path)
    emp = read_table(ex.employees, required=REQUIRED_COLUMNS["employees"])
    assert emp.num_rows == 20
    assert emp.column("employee_id").to_pylist()[0] == "E00001"
    assert all(len(z) == 5 for z in emp.column("zip").to_pylist())
    read_table(ex.leave, required=REQUIRED_COLUMNS["leave"])
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
