"""`privtune scan` / `privtune deidentify --policy` round trips on a synthetic company, the
refusal of data missing k, and a planted-PII grep over every output file."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from pathlib import Path

import pytest
import yaml

from privtune.cli.main import run
from privtune.synth import generate_company
from privtune.synth.identifiers import email_forms, iban_forms, phone_forms, ssn_forms
from privtune.workspace import Workspace

pytestmark = pytest.mark.slow  # runs the CLI end to end on a generated company

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

N, SEED = 80, 7
ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue() + err.getvalue()


def _tempdirs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}  # anything left behind, privtune's or not


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("deidcli")
    files = generate_company(N, SEED, base / "export")
    rows = list(csv.DictReader(files.employees.open()))
    planted = {
        "ssn": {f for r in rows for f in ssn_forms(r["ssn"])},
        "email": {f.lower() for r in rows for f in email_forms(r["email"])},
        "phone": {f for r in rows for p in (r["phone"], r["emergency_contact_phone"]) if p for f in phone_forms(p)},
        "iban": {f for r in rows for f in iban_forms(r["iban"])},
        "name": {f"{r['first_name']} {r['last_name']}".lower() for r in rows},
        "address": {r["home_address"].split(",")[0].lower() for r in rows if r.get("home_address")},
        "dob": {r["date_of_birth"] for r in rows},
    }
    # A private temp root, so temp dirs of other processes on the machine do not count.
    tmp_root = base / "tmp"
    tmp_root.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(tmp_root)
    w = base / "ws"
    log = []
    try:
        for args in (("init", str(w)), ("ingest", str(base / "export"), "-w", str(w)),
                     ("scan", "-w", str(w)),
                     ("deidentify", "--policy", str(ROOT / "configs" / "deid-policy.yaml"), "-w", str(w))):
            code, text = _run(*args)
            assert code == 0, text[-2000:]
            log.append(text)
    finally:
        tempfile.tempdir = saved
    return {"dir": w, "planted": planted, "log": "\n".join(log), "tempdirs_left": _tempdirs(tmp_root),
            "base": base}


def _leaks(text: str, planted: dict[str, set[str]], kinds=("ssn", "email", "phone", "iban", "name", "address")) -> list[str]:
    low = text.lower()
    # a name leaks as whole words: a surrogate such as "Joann Leeds" holds "ann lee" as a
    # substring, which is not the real "Ann Lee" (surrogates never equal a roster name)
    return [f"{k}#{i}" for k in kinds for i, v in enumerate(sorted(planted[k]))
            if (re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", low) if k == "name"
                else v.lower() in low)]


def test_round_trip_writes_versions_and_reports(ws) -> None:
    w: Path = ws["dir"]
    with Workspace.open(w, api_key=ADMIN_KEY) as space:
        for name in ("employees-deid@1", "leave-deid@1", "tickets-deid@1", "reviews-deid@1", "deid-policy@1"):
            assert space.vault.exists(name), name
        m = space.vault.manifest("employees-deid@1")
        assert m.meta["privacy"]["ok"] and m.meta["privacy"]["k"] >= 5
        assert "employees@1" in m.parents and "deid-policy@1" in m.parents
    for page in ("pii-scan.html", "pii-scan.json", "deidentify.html", "deidentify.json"):
        assert (w / "reports" / page).is_file(), page
    html = (w / "reports" / "pii-scan.html").read_text()
    assert "direct_identifier" in html and "Xxx" in html  # classes and shape-masked examples
    assert "prosecutor" in (w / "reports" / "deidentify.html").read_text()
    assert ws["tempdirs_left"] == set()


def test_no_planted_pii_in_any_output_file(ws) -> None:
    w: Path = ws["dir"]
    planted = ws["planted"]
    checked = 0
    for path in w.rglob("*"):
        if not path.is_file() or "objects" in path.relative_to(w).parts:
            continue  # the vault's objects are checked after decryption below
        assert _leaks(path.read_bytes().decode("utf-8", "ignore"), planted) == [], path.name
        checked += 1
    assert checked >= 5
    assert _leaks(ws["log"], planted) == []
    with Workspace.open(w, api_key=ADMIN_KEY) as space:
        for ref in ("employees-deid", "leave-deid", "tickets-deid", "reviews-deid", "deid-policy"):
            text = space.vault.get(ref).decode("utf-8", "ignore")
            assert _leaks(text, planted) == [], ref
        table = space.vault.get("employees-deid")
        assert not any(d.encode() in table for d in planted["dob"])
        assert _leaks(space.vault.get("tickets").decode(), planted)  # the grep does find raw PII


def test_deidentified_texts_keep_tokens_joinable(ws) -> None:
    import json

    from privtune.io import read_table

    with Workspace.open(ws["dir"], api_key=ADMIN_KEY) as space:
        emp = read_table(space.vault, "employees-deid").to_pylist()
        tokens = {r["employee_id"] for r in emp}
        tickets = [json.loads(x) for x in space.vault.get("tickets-deid").decode().splitlines()]
    assert all(re.fullmatch(r"EMP-[0-9a-f]{10}", t) for t in tokens)
    assert {t["employee_id"] for t in tickets} <= tokens
    assert {r["manager_id"] for r in emp if r["manager_id"]} <= tokens


def test_policy_missing_k_is_refused_and_nothing_is_written(ws, tmp_path: Path) -> None:
    pol = yaml.safe_load((ROOT / "configs" / "deid-policy.yaml").read_text())
    pol["privacy"].update(k=N * 10, search=True)
    p = tmp_path / "strict.yaml"
    p.write_text(yaml.safe_dump(pol))
    code, text = _run("deidentify", "--policy", str(p), "-w", str(ws["dir"]))
    assert code == 8
    assert "birth_year, gender, zip3, state, hire_year" in text and f"k={N * 10}" in text
    assert "equivalence classes" in text and _leaks(text, ws["planted"]) == []
    with Workspace.open(ws["dir"], api_key=ADMIN_KEY) as space:
        assert not space.vault.exists("employees-deid@2") and not space.vault.exists("tickets-deid@2")
    assert "REFUSED" in (ws["dir"] / "reports" / "deidentify.html").read_text()


def test_bad_policy_is_a_config_error(ws, tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("columns:\n  salary: {operator: blur}\n")
    code, text = _run("deidentify", "--policy", str(p), "-w", str(ws["dir"]))
    assert code == 2 and "columns.salary.operator" in text and "pseudonymize" in text


def test_training_data_without_a_passing_verdict_is_refused(ws) -> None:
    from privtune.errors import PrivacyPolicyError
    from privtune.pipeline.config import DatasetSpec
    from privtune.pipeline.dataset import build_dataset

    with Workspace.open(ws["dir"], api_key=ADMIN_KEY) as space:
        ref = space.vault.put("employees-deid", space.vault.get("employees-deid@1"), kind="table",
                              schema="parquet", meta={"rows": N})
        with pytest.raises(PrivacyPolicyError, match="no privacy-model verdict"):
            build_dataset(space, {"employees": ref}, None, DatasetSpec())
        bad = dict(space.vault.manifest("employees-deid@1").meta["privacy"], ok=False, k=1,
                   classes_below_k=3, rows_in_classes_below_k=3)
        ref = space.vault.put("employees-deid", space.vault.get("employees-deid@1"), kind="table",
                              schema="parquet", meta={"rows": N, "privacy": bad})
        with pytest.raises(PrivacyPolicyError, match=r"3 of .* equivalence classes"):
            build_dataset(space, {"employees": ref}, None, DatasetSpec())
