"""read_table / read_texts / discover_export: formats, string safety and error messages."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privtune.errors import InputError
from privtune.ingest import discover_export, read_table, read_texts, require_columns

SECRET = "Zyxwv Secretname"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_leading_zeros_and_strings(tmp_path):
    p = _write(tmp_path / "employees.csv", "employee_id,zip,phone,salary\nE00001,02134,(555) 123-4567,85000\nE00002,,555.123.4567,90000\n")
    t = read_table(p)
    assert all(f.type == pa.string() for f in t.schema)
    assert t.column("zip").to_pylist() == ["02134", None]
    assert t.column("salary").to_pylist() == ["85000", "90000"]


def test_csv_quoted_fields_with_commas_and_newlines(tmp_path):
    p = _write(tmp_path / "e.csv", 'id,note\n1,"a, b"\n2,"line1\nline2"\n')
    assert read_table(p).column("note").to_pylist() == ["a, b", "line1\nline2"]


def test_csv_wrong_field_count_names_file_and_row_not_values(tmp_path):
    p = _write(tmp_path / "employees.csv", f"id,name,zip\n1,Ann,02134\n2,{SECRET}\n")
    with pytest.raises(InputError) as err:
        read_table(p)
    msg = str(err.value)
    assert "employees.csv" in msg and "row 2" in msg and "expected 3 fields, found 2" in msg
    assert err.value.row == 2
    assert SECRET not in msg and "Zyxwv" not in msg


def test_csv_duplicate_header(tmp_path):
    p = _write(tmp_path / "e.csv", "id,id\n1,2\n")
    with pytest.raises(InputError, match="duplicate column"):
        read_table(p)


@pytest.mark.parametrize("content", ["", "   \n\n"])
def test_empty_file(tmp_path, content):
    p = _write(tmp_path / "e.csv", content)
    with pytest.raises(InputError, match="empty"):
        read_table(p)


def test_unsupported_extension_lists_supported(tmp_path):
    p = _write(tmp_path / "e.xlsx", "x")
    with pytest.raises(InputError) as err:
        read_table(p)
    for ext in (".csv", ".json", ".jsonl", ".parquet"):
        assert ext in str(err.value)


def test_jsonl_bad_line_names_line(tmp_path):
    p = _write(tmp_path / "leave.jsonl", '{"leave_id": "L1"}\n\n{"leave_id": "' + SECRET + '",\n')
    with pytest.raises(InputError) as err:
        read_table(p)
    assert "leave.jsonl" in str(err.value) and "row 3" in str(err.value)
    assert SECRET not in str(err.value)


def test_jsonl_non_object_line(tmp_path):
    p = _write(tmp_path / "x.jsonl", '{"a": "1"}\n["' + SECRET + '"]\n')
    with pytest.raises(InputError) as err:
        read_table(p)
    assert "row 2" in str(err.value) and "array" in str(err.value) and SECRET not in str(err.value)


def test_json_array_and_types_become_strings(tmp_path):
    p = _write(tmp_path / "x.json", json.dumps([{"id": "E1", "zip": "02134", "n": 3, "f": True}, {"id": "E2", "x": None}]))
    t = read_table(p)
    assert t.column_names == ["id", "zip", "n", "f", "x"]
    assert t.to_pylist()[0] == {"id": "E1", "zip": "02134", "n": "3", "f": "true", "x": None}


def test_json_not_array(tmp_path):
    with pytest.raises(InputError, match="array"):
        read_table(_write(tmp_path / "x.json", '{"a": 1}'))


def test_parquet_cast_to_string(tmp_path):
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"zip": ["02134"], "salary": [85000], "ok": [True]}), p)
    t = read_table(p)
    assert t.to_pylist() == [{"zip": "02134", "salary": "85000", "ok": "true"}]


def test_parquet_corrupt(tmp_path):
    with pytest.raises(InputError, match="Parquet"):
        read_table(_write(tmp_path / "e.parquet", "not parquet"))


def test_missing_required_column(tmp_path):
    p = _write(tmp_path / "employees.csv", "employee_id,first_name\nE00001,Ann\n")
    with pytest.raises(InputError) as err:
        read_table(p, required=["employee_id", "first_name", "last_name"])
    assert "last_name" in str(err.value) and "employees.csv" in str(err.value)
    assert err.value.field == "last_name" and "Ann" not in str(err.value)
    require_columns(read_table(p), ["employee_id"], p)  # no error


def test_read_texts_ok_and_errors(tmp_path):
    p = _write(tmp_path / "tickets.jsonl", '{"id": "T1", "text": "hello", "category": "payroll"}\n{"id": 2, "text": "x"}\n')
    assert read_texts(p) == [{"id": "T1", "text": "hello", "category": "payroll"}, {"id": "2", "text": "x"}]
    bad = _write(tmp_path / "r.jsonl", '{"id": "R1", "text": "ok"}\n{"id": "R2", "text": 5}\n')
    with pytest.raises(InputError) as err:
        read_texts(bad)
    assert "row 2" in str(err.value) and "field 'text'" in str(err.value)
    noid = _write(tmp_path / "r2.jsonl", '{"text": "' + SECRET + '"}\n')
    with pytest.raises(InputError) as err:
        read_texts(noid)
    assert "row 1" in str(err.value) and "field 'id'" in str(err.value) and SECRET not in str(err.value)
    dup = _write(tmp_path / "r3.jsonl", '{"id": "a", "text": ""}\n{"id": "a", "text": ""}\n')
    with pytest.raises(InputError, match="duplicate id"):
        read_texts(dup)
    with pytest.raises(InputError, match="invalid JSON"):
        read_texts(_write(tmp_path / "r4.jsonl", "{nope\n"))


def test_discover_export(tmp_path):
    with pytest.raises(InputError, match="no employees table"):
        discover_export(tmp_path)
    _write(tmp_path / "employees.parquet", "")
    _write(tmp_path / "leave.jsonl", "")
    _write(tmp_path / "tickets.jsonl", "")
    (tmp_path / "policies").mkdir()
    _write(tmp_path / "policies" / "b.md", "# B")
    _write(tmp_path / "policies" / "a.md", "# A")
    ex = discover_export(tmp_path)
    assert ex.employees.name == "employees.parquet" and ex.leave.name == "leave.jsonl"
    assert ex.reviews is None and ex.tickets.name == "tickets.jsonl"
    assert list(ex.read_policies()) == ["a", "b"]
    _write(tmp_path / "employees.csv", "")
    with pytest.raises(InputError, match="ambiguous"):
        discover_export(tmp_path)
    with pytest.raises(InputError, match="not found"):
        discover_export(tmp_path / "nope")
