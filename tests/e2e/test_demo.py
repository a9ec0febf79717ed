"""End to end: a small demo through the CLI, its outputs, and a planted-PII grep over them."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from privtune.cli.main import run
from privtune.demo import STAGES
from privtune.synth import generate_company
from privtune.synth.identifiers import phone_forms, ssn_forms

pytestmark = pytest.mark.slow

EMPLOYEES, SEED = 40, 11
SMALL = [
    f"company.employees={EMPLOYEES}", f"company.seed={SEED}",
    "model.tiny.steps=60", "train.steps=20", "train.eval_every=10",
    # employee-level DP stays on (the default); a smaller Poisson batch keeps the test short
    "dp.expected_batch_size=16", "dp.max_examples_per_unit=1", "dp.accountant=rdp",
    # the privacy audit runs every attack, with fewer probes
    "audit.exposure.candidates=100", "audit.extraction.employees=4", "audit.prompt_attacks.targets=1",
    "audit.mia.reference_steps=5",
    # 32 training employees: let the canaries take up to half of the units (default 10%)
    "dataset.canaries.max_unit_fraction=0.5",
    # a 40-person company's membership-inference figures are too noisy to judge (tests/gate
    # checks the gate itself): off here, so that the release, verify and serve stages always run
    "gate.mia_auc_max=null", "gate.mia_tpr_at_1pct_fpr_max=null",
]


def _tempdirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("privtune-*")}


@pytest.fixture(scope="module")
def private_tmp(tmp_path_factory: pytest.TempPathFactory):
    """This module's own temp root, so other runs on the machine cannot race the leftover check."""
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tmproot"))
    try:
        yield Path(tempfile.tempdir)
    finally:
        tempfile.tempdir = saved


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, private_tmp: Path):
    out = tmp_path_factory.mktemp("demo") / "out"
    before = _tempdirs()
    import contextlib
    import io

    buf_out, buf_err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        code = run(["demo", "--out", str(out), *SMALL])
    return {"out": out, "code": code, "stdout": buf_out.getvalue(), "stderr": buf_err.getvalue(),
            "tempdirs_left": _tempdirs() - before}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The same company the demo generated (same seed): its SSNs, emails and phones."""
    import csv

    d = tmp_path_factory.mktemp("planted")
    files = generate_company(EMPLOYEES, SEED, d)
    rows = list(csv.DictReader(files.employees.open()))
    ssns = sorted({f for r in rows for f in ssn_forms(r["ssn"])})
    emails = sorted({r["email"].lower() for r in rows})
    phones = sorted({f for r in rows for p in (r["phone"], r["emergency_contact_phone"])
                     for f in phone_forms(p)})
    names = sorted({f"{r['first_name']} {r['last_name']}" for r in rows})
    return {"ssn": ssns, "email": emails, "phone": phones, "name": names}


def _leaks(text: str, planted: dict[str, list[str]]) -> list[str]:
    low = text.lower()
    found = []
    for kind in ("ssn", "email", "phone"):
        found += [f"{kind}#{i}" for i, v in enumerate(planted[kind]) if v.lower() in low]
    return found


def test_demo_succeeds_and_cleans_up(demo) -> None:
    assert demo["code"] == 0, demo["stderr"][-2000:]
    out: Path = demo["out"]
    assert (out / "summary.json").is_file() and (out / "report.html").is_file()
    assert (out / "workspace" / "privtune.yaml").is_file()
    assert not out.with_name(out.name + ".partial").exists()
    assert demo["tempdirs_left"] == set(), "private temp dirs must be removed"
    assert "summary" in demo["stdout"] and "report" in demo["stdout"]


def test_summary_has_every_stage_and_real_figures(demo) -> None:
    s = json.loads((demo["out"] / "summary.json").read_text())
    assert list(s["stages"]) == list(STAGES)
    st = s["stages"]
    assert st["company"]["employees"] == EMPLOYEES
    assert st["ingest"]["rows"]["employees"] == EMPLOYEES
    assert st["scan"]["entities_in_texts"]["SSN"] > 0
    assert "ssn" in st["scan"]["direct_identifier_columns"]
    assert st["deidentify"]["spans_masked"] > 0
    assert st["dataset"]["employees_in_both"] == 0 and st["dataset"]["val_employees"] > 0
    assert 1_000_000 <= st["base_model"]["params"] <= 5_000_000
    assert st["base_model"]["pretrain_loss_end"] < st["base_model"]["pretrain_loss_start"]
    assert st["train"]["steps"] == 20
    assert st["train"]["dp"] is True and 0 < st["train"]["epsilon"] <= 8.0
    # person-level: the DP default keeps every person's data in one unit, so it equals per-unit
    assert st["dataset"]["max_group_size"] == 1 and st["train"]["group_size"] == 1
    assert st["train"]["epsilon_person"] == st["train"]["epsilon"]
    dp_line = next(c for c in s["checks"] if c["name"] == "differential privacy")
    assert f"per person: epsilon {st['train']['epsilon_person']:g}" in dp_line["detail"]
    assert "per person" in demo["stdout"]
    # secure DP randomness: no seed of the run in the summary (issue 14: train.seed was there
    # and replayed the sampling)
    assert st["train"]["private"] is True and "seed" not in s["config"]["train"]
    assert "noise_seed" not in s["config"]["dp"] and s["config"]["dp"]["insecure_reproducible"] is False
    ev = st["evaluate"]
    assert ev["val_loss_tuned"] < ev["val_loss_base"], "fine-tuning must lower held-out loss"
    assert 0.0 <= ev["triage_accuracy_tuned"] <= 1.0
    assert {c["name"] for c in s["checks"]} >= {"split by employee", "validation loss falls"}
    assert all(c["ok"] for c in s["checks"])
    au = st["audit"]
    assert au["passed"] == s["gate"]["passed"]
    assert au["exposure_max_by_repetitions"] and set(au["exposure_max_by_repetitions"]) <= {"1", "4", "16"}
    assert 0.0 <= au["mia_auc_max"] <= 1.0 and au["epsilon"] == pytest.approx(st["train"]["epsilon"], abs=1e-3)
    assert (demo["out"] / "workspace" / au["report"]).is_file() and "privacy gate" in demo["stdout"]
    # the demo's lighter audit is marked as such; the real employees each attack probed are shown
    assert s["gate"]["profile"] == au["profile"] == "demo"
    people = st["dataset"]["train_employees"] + st["dataset"]["val_employees"]
    # attribute inference probes everyone with facts; membership only the make-up-matched
    attrs = s["gate"]["subjects_probed"]["attributes"]
    if "employee_fact" in st["dataset"]["tasks"]:
        assert 0.95 * people <= attrs <= people
    else:  # the DP recipe trains no employee facts: attribute inference is not applicable
        assert attrs == 0
    assert 0.5 * people <= s["gate"]["subjects_probed"]["membership"] <= people
    # the one-run empirical lower bound sits beside the accountant's epsilon, never above it
    assert au["canary_candidates"] >= 20
    lb = s["gate"]["empirical_epsilon_lb"]
    assert lb is not None and 0.0 <= lb <= s["gate"]["accountant_epsilon"]


def test_released_verified_and_served(demo, planted) -> None:
    """The demo ends on a model released under the demo workspace's policy (which accepts the
    demo's lighter audit), verified as a receiver would, then asked two questions through
    `privtune serve` with the openai client."""
    s = json.loads((demo["out"] / "summary.json").read_text())
    st = s["stages"]
    assert s["gate"]["passed"] is True
    rel, ver, srv = st["release"], st["verify"], st["serve"]
    # the release bundle sits in the workspace the demo moved into place, not in OUT.partial
    bundle = Path(rel["directory"])
    assert bundle.is_dir() and bundle.is_relative_to(demo["out"].resolve() / "workspace")
    assert (bundle / "release.json").is_file() and Path(rel["public_key"]).is_file()
    assert rel["epsilon"] == pytest.approx(st["train"]["epsilon"], abs=1e-3)
    assert ver["verified"] is True and ver["registry_state"] == "released"
    assert ver["release"] == rel["release"] and srv["model"] == ver["model"] == rel["model"]
    released = json.loads((bundle / "release.json").read_text())
    assert released["profile"] == "demo"  # the lighter audit is on the release record
    assert srv["questions"] == len(srv["answers"]) == 2
    for a in srv["answers"]:
        # a tiny model may end its answer at once (an empty answer is still an answer)
        assert a["question"] and isinstance(a["completion_tokens"], int) and isinstance(a["answer"], str)
        assert a["finish_reason"] in ("stop", "length") and a["question"] in demo["stdout"]
        assert _leaks(a["answer"], planted) == []
    assert "asked through privtune serve" in demo["stdout"]
    # the receiver's check, run on the moved bundle by the CLI
    assert run(["verify-release", str(bundle), "--pubkey", rel["public_key"],
                "-w", str(demo["out"] / "workspace")]) == 0


def test_shipped_policy_would_not_release_the_demo_audit() -> None:
    """The demo's release rests on its own policy: the shipped one refuses the demo profile and
    the demo's reference and canary counts."""
    from privtune.demo import DEMO_MIN_CANDIDATES, DEMO_MIN_REFERENCE_MODELS, demo_gate_policy
    from privtune.gate.policy import GatePolicy, load_policy

    shipped = load_policy(None)
    assert shipped.profiles == ["full"] and shipped.min_reference_models == 8
    assert shipped.min_candidates == 100
    demo_pol = demo_gate_policy(shipped)
    assert demo_pol.profiles == ["demo", "full"]
    assert (demo_pol.min_reference_models, demo_pol.min_candidates) == (
        DEMO_MIN_REFERENCE_MODELS, DEMO_MIN_CANDIDATES)
    # every metric limit is the shipped one
    limits = set(GatePolicy.model_fields) - {"profiles", "min_reference_models", "min_candidates"}
    assert {k: getattr(demo_pol, k) for k in limits} == {k: getattr(shipped, k) for k in limits}


def test_report_holds_the_figures(demo) -> None:
    html = (demo["out"] / "report.html").read_text()
    s = json.loads((demo["out"] / "summary.json").read_text())
    assert "<svg" in html and "validation loss" in html
    assert str(s["stages"]["evaluate"]["val_loss_tuned"]) in html
    for stage in STAGES:
        assert stage in html


def test_no_planted_pii_outside_the_vault(demo, planted) -> None:
    out: Path = demo["out"]
    assert planted["ssn"] and planted["email"] and planted["phone"]
    checked = 0
    for path in out.rglob("*"):
        if not path.is_file() or "vault" in path.relative_to(out).parts:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        assert _leaks(text, planted) == [], f"planted PII in {path.relative_to(out)}"
        checked += 1
    assert checked >= 5
    assert _leaks(demo["stdout"] + demo["stderr"], planted) == []


def test_no_planted_pii_in_the_training_set(demo, planted) -> None:
    from privtune.workspace import Workspace

    with Workspace.open(demo["out"] / "workspace", api_key=os.environ["PRIVTUNE_API_KEY"]) as ws:
        for ref in ("trainset", "valset", "tickets-deid", "reviews-deid", "employees-deid"):
            text = ws.vault.get(ref).decode("utf-8", errors="ignore")
            assert _leaks(text, planted) == [], ref
            assert not any(re.search(re.escape(n), text, re.I) for n in planted["name"]), ref
        # ...while the raw objects in the vault do hold it (so the grep can find it).
        assert _leaks(ws.vault.get("tickets").decode(), planted)


def test_other_commands_inspect_the_demo_workspace(demo, capsys: pytest.CaptureFixture[str]) -> None:
    ws = str(demo["out"] / "workspace")
    assert run(["vault", "ls", "-w", ws]) == 0
    listing = capsys.readouterr().out
    for name in ("employees@1", "trainset@1", "adapter@1"):
        assert name in listing


def test_failed_demo_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = run(["demo", "--out", str(out), "company.employees=10",
                f"model.base={tmp_path / 'no-such-model'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "Traceback" not in err
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_vault_files_are_encrypted_and_verify(demo, planted, capsys: pytest.CaptureFixture[str]) -> None:
    """The raw objects hold planted PII (see above), yet no vault file shows it in clear."""
    vault_dir = demo["out"] / "workspace" / "vault"
    files = [p for p in vault_dir.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        text = path.read_bytes().decode("latin-1")
        assert _leaks(text, planted) == [], path.name
        assert not any(n in text for n in planted["name"]), path.name
    assert run(["vault", "verify", "-w", str(demo["out"] / "workspace")]) == 0
    assert "versions verified" in capsys.readouterr().out
