"""generate_company: reproducibility, formats, manifest, validation and failure behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from privtune.errors import ConfigError, InputError
from privtune.synth import (
    EMPLOYEE_COLUMNS,
    EMPLOYEE_SCHEMA,
    LEAVE_COLUMNS,
    LEAVE_SCHEMA,
    MANIFEST,
    SCHEMA_VERSION,
    generate_company,
    read_table,
)
from privtune.synth import company as company_mod


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_same_seed_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    generate_company(40, 5, tmp_path / "a", fmt=fmt)
    generate_company(40, 5, tmp_path / "b", fmt=fmt)
    a, b = _all_bytes(tmp_path / "a"), _all_bytes(tmp_path / "b")
    assert a.keys() == b.keys()
    assert a == b


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    generate_company(40, 5, tmp_path / "a")
    generate_company(40, 6, tmp_path / "b")
    a, b = _all_bytes(tmp_path / "a"), _all_bytes(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] != b[name], name


def test_regenerating_in_place_is_identical_and_cleans_other_format(tmp_path: Path) -> None:
    out = tmp_path / "co"
    generate_company(30, 9, out, fmt="parquet")
    generate_company(30, 9, out, fmt="csv")
    first = _all_bytes(out)
    assert not (out / "employees.parquet").exists()
    generate_company(30, 9, out, fmt="csv")
    assert _all_bytes(out) == first


def test_three_formats_read_back_identically(tmp_path: Path) -> None:
    tables = {}
    for fmt in ("csv", "json", "parquet"):
        files = generate_company(60, 21, tmp_path / fmt, fmt=fmt)
        tables[fmt] = (read_table(files.employees), read_table(files.leave))
        assert files.employees.suffix == {"csv": ".csv", "json": ".jsonl", "parquet": ".parquet"}[fmt]
    for fmt in ("json", "parquet"):
        assert tables[fmt][0].equals(tables["csv"][0]), fmt
        assert tables[fmt][1].equals(tables["csv"][1]), fmt
    emp = tables["csv"][0]
    assert emp.schema == EMPLOYEE_SCHEMA
    assert emp.num_rows == 60
    # zip codes keep their leading zeros, ints stay ints, bools stay bools
    assert all(len(z) == 5 for z in emp.column("zip").to_pylist())

    # plain pyarrow readers (no privtune helper) see the same columns
    raw_pq = pq.read_table(tmp_path / "parquet" / "employees.parquet")
    assert raw_pq.column_names == list(EMPLOYEE_COLUMNS)
    assert raw_pq.equals(emp)
    raw_json = pajson.read_json(tmp_path / "json" / "employees.jsonl")
    assert raw_json.column_names == list(EMPLOYEE_COLUMNS)
    raw_csv = pacsv.read_csv(
        tmp_path / "csv" / "leave.csv",
        convert_options=pacsv.ConvertOptions(column_types=LEAVE_SCHEMA),
    )
    assert raw_csv.column_names == list(LEAVE_COLUMNS)
    assert raw_csv.cast(LEAVE_SCHEMA).equals(tables["csv"][1])


def test_jsonl_lines_are_objects_in_column_order(tmp_path: Path) -> None:
    files = generate_company(10, 1, tmp_path, fmt="json")
    lines = files.employees.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10
    assert list(json.loads(lines[0])) == list(EMPLOYEE_COLUMNS)


def test_manifest_describes_the_files(tmp_path: Path) -> None:
    files = generate_company(25, 4, tmp_path, fmt="json")
    doc = json.loads((tmp_path / MANIFEST).read_text())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert (doc["seed"], doc["n_employees"], doc["fmt"]) == (4, 25, "json")
    assert doc["company"] == {"name": files.company_name, "domain": files.domain}
    assert doc["files"]["employees"] == "employees.jsonl"
    for key in ("employees", "leave", "reviews", "tickets", "pii_spans"):
        path = tmp_path / doc["files"][key]
        assert path.is_file()
        assert len(path.read_text().splitlines()) == doc["counts"][key] == files.counts[key]
    assert len(doc["files"]["policies"]) == doc["counts"]["policies"]
    assert all((tmp_path / p).is_file() for p in doc["files"]["policies"])
    assert files.counts["reviews"] == 24  # everyone but the CEO


def test_failure_midway_leaves_no_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "co"
    generate_company(20, 2, out)
    assert (out / MANIFEST).exists()

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(company_mod, "write_jsonl", boom)
    with pytest.raises(OSError):
        generate_company(20, 3, out)
    assert not (out / MANIFEST).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("n", [0, 4, -1])
def test_too_few_employees_is_an_input_error(tmp_path: Path, n: int) -> None:
    with pytest.raises(InputError) as err:
        generate_company(n, 1, tmp_path)
    assert "n_employees" in str(err.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad", [True, 5.0, "10"])
def test_non_integer_size_is_an_input_error(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError):
        generate_company(bad, 1, tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["xlsx", "CSV", "jsonl", ""])
def test_bad_format_is_a_config_error(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(ConfigError) as err:
        generate_company(10, 1, tmp_path, fmt=fmt)
    assert err.value.key == "fmt"


def test_output_path_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError):
        generate_company(10, 1, f)


def test_read_table_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        read_table(tmp_path / "employees.csv")
    assert "employees.csv" in str(err.value)
    bad = tmp_path / "employees.csv"
    bad.write_text("employee_id,first_name\nE00001,Secretname\n")
    with pytest.raises(InputError) as err2:
        read_table(bad)
    assert "Secretname" not in str(err2.value)


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    """Nothing may depend on str hashing or process state (set order, id(), the clock)."""
    import os
    import subprocess
    import sys

    code = "import sys; from pathlib import Path; from privtune.synth import generate_company; generate_company(25, 8, Path(sys.argv[1]), fmt='parquet')"
    for hs in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hs)
        subprocess.run([sys.executable, "-c", code, str(tmp_path / hs)], check=True, env=env)
    assert _all_bytes(tmp_path / "1") == _all_bytes(tmp_path / "2")
