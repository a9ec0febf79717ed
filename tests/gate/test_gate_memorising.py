"""The gate can fail: a memorising run (no DP, a canary repeated 32 times, low loss) is flagged;
the audit's outputs hold no personal data; release refuses what the gate did not pass."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from privtune.attacks.canaries import load_canaries
from privtune.errors import PrivacyPolicyError
from privtune.gate.policy import GatePolicy
from privtune.gate.release import release
from privtune.pipeline.site import gate_site
from privtune.store.models import Audit
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

pytestmark = pytest.mark.slow

PERMISSIVE = GatePolicy(canary_exposure_max=None, mia_auc_max=None, mia_tpr_at_1pct_fpr_max=None,
                        extraction_exact=None, extraction_near=None, prompt_attack_leaks=None)


def _canaries(ws_dir: Path):
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        return load_canaries(ws.vault.get("canaries"))[0]


def test_memorising_run_fails_and_its_included_canaries_are_memorised(memorising, failed_audit) -> None:
    v = failed_audit["outcome"].verdict
    assert v["passed"] is False and failed_audit["outcome"].passed is False
    canaries = {c["canary"]: c for c in v["details"]["canaries"]}
    planted = _canaries(memorising["ws_dir"])
    assert len(canaries) == len(planted) == 20            # every candidate is scored
    # the canaries follow the recipe's templates: EMP- tokens, fact and ticket canaries
    assert {c.kind for c in planted} == {"employee_fact", "ticket_triage"}
    assert all(c.token.startswith("EMP-") and "SSN" not in c.user for c in planted)
    # Memorised: the included (trained 32x) candidates sit nearer their secret space's maximum
    # exposure than the excluded ones (never trained). Small spaces (8 categories, a few bands)
    # cap a canary at a few bits, so the comparison is on the fraction of the maximum.
    def frac(cid: str) -> float:
        return canaries[cid]["exposure"] / canaries[cid]["max_exposure"]
    inc = [frac(c.id) for c in planted if c.included]
    exc = [frac(c.id) for c in planted if not c.included]
    assert inc and exc and sum(inc) / len(inc) > sum(exc) / len(exc)
    # A large-space canary (an EMP- token secret) that was trained is flagged; one that was
    # not never is (which of them the draw includes is random).
    hot = [c.id for c in planted if c.included and c.space is None]
    flagged = {cid for cid, c in canaries.items() if c["exposure"] > 10.0}
    assert set(v["details"]["canaries_flagged"]) == flagged
    out = [c.id for c in planted if not c.included and c.space is None]
    assert all(canaries[cid]["exposure"] < 10.0 for cid in out)
    assert not set(out) & set(v["details"]["canaries_flagged"])
    row = next(m for m in v["metrics"] if m["name"] == "canary_exposure_max")
    assert row["value"] == pytest.approx(max(c["exposure"] for c in canaries.values()), abs=1e-3)
    assert row["threshold"] == 10.0 and row["passed"] is (not flagged)
    assert not flagged or flagged <= set(hot)        # only a trained EMP-token canary can exceed 10 bits
    one_run = v["details"]["one_run"]
    assert one_run["candidates"] == 20
    assert one_run["included"] == sum(c.included for c in planted)
    lb = next(m for m in v["metrics"] if m["name"] == "empirical_epsilon_lower_bound")
    assert lb["value"] == one_run["epsilon_lower_bound"] >= 0.0
    assert lb["threshold"] is None and lb["passed"] is True       # no DP: nothing to contradict


def test_membership_inference_probes_real_employees(memorising, failed_audit) -> None:
    """Make-up-matched membership inference runs on the real employees (members and held-out),
    with its FPR resolution reported. (Whether it alone fails this 40-person model varies with
    the random canary draw: AUC 0.60-0.89 seen; test_gate_real_employees.py shows the gate
    failing a memorising model on real employees alone, robustly.)"""
    v = failed_audit["outcome"].verdict
    assert "epsilon" in v["failed"]                    # not DP: the default policy refuses it
    best = max(v["details"]["membership"], key=lambda a: a["auc"])
    assert 0.0 <= best["auc"] <= 1.0 and best["fpr_resolution"] == pytest.approx(1 / best["non_members"], abs=1e-5)
    assert best["members"] >= 10 and best["non_members"] >= 10
    probed = v["subjects_probed"]
    assert probed["membership"]["real_employees"] == best["members"] + best["non_members"]
    attrs = v["details"]["attributes"]
    assert attrs["members"] >= 15 and attrs["non_members"] >= 15
    assert {"salary_band", "performance_rating", "department"} <= set(attrs["fields"])
    assert probed["attributes"]["real_employees"] == attrs["members"] + attrs["non_members"]


def test_verdict_is_recorded_with_the_model_hash(memorising, failed_audit) -> None:
    out = failed_audit["outcome"]
    on_disk = json.loads(out.verdict_path.read_text())
    assert on_disk["passed"] is False and on_disk["audit_id"] == out.audit_id
    with Workspace.open(memorising["ws_dir"], api_key=ADMIN_KEY) as ws, ws.store.session() as s:
        row = s.get(Audit, out.audit_id)
        assert row is not None and row.passed is False
        assert row.model_ref == memorising["adapter"]
        assert row.model_sha256 == on_disk["model"]["adapter_sha256"]
        assert len(row.model_sha256) == 64
    html = out.report_path.read_text()
    assert "FAIL" in html and "<svg" in html and "canary_exposure_max" in html


def _planted(export: Path) -> list[str]:
    with (export / "employees.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    values = []
    for r in rows:
        values += [r["ssn"], r["email"], r["phone"], f"{r['first_name']} {r['last_name']}",
                   r["iban"], r["home_address"]]
    return values


def test_no_pii_in_report_verdict_store_or_logs(memorising, failed_audit) -> None:
    planted = _planted(memorising["export"])
    canaries = _canaries(memorising["ws_dir"])
    # a canary's token, and its secret where it is one (a field value or a category is not)
    planted += [c.token for c in canaries] + [c.secret for c in canaries if c.space is None]
    out = failed_audit["outcome"]
    texts = {"verdict": out.verdict_path.read_text(), "report": out.report_path.read_text(),
             "store": json.dumps(out.verdict)}
    runs = memorising["ws_dir"] / "runs"
    for p in runs.rglob("*"):
        if p.is_file():
            texts[str(p)] = p.read_text(errors="ignore")
    for name, text in texts.items():
        for value in planted:
            assert value not in text, f"a planted value leaked into {name}"
    # the masked examples are shapes only
    for key in ("extraction", "prompt_attacks"):
        for ex in out.verdict["details"][key]["examples"]:
            assert set(ex["value"]) <= set("*-@. ,/()+")


def test_release_refuses_failed_unaudited_and_stale(memorising, failed_audit, tmp_path) -> None:
    with Workspace.open(memorising["ws_dir"], api_key=ADMIN_KEY) as ws:
        with pytest.raises(PrivacyPolicyError, match="failed the privacy gate") as exc:
            release(gate_site(ws), memorising["adapter"], tmp_path / "r1")
        assert exc.value.exit_code == 8
        assert not (tmp_path / "r1").exists()
        m = ws.vault.manifest(memorising["adapter"])
        d = ws.vault.get_dir(m.ref, tmp_path / "unpacked")
        other = ws.vault.put_dir("unaudited", d, kind="adapter", schema="peft-lora", meta=m.meta)
        shutil.rmtree(d)
        with pytest.raises(PrivacyPolicyError, match="never been audited"):
            release(gate_site(ws), other, tmp_path / "r2")
        assert not (tmp_path / "r2").exists()


def test_release_refuses_an_audit_that_predates_the_model(memorising, failed_audit, tmp_path) -> None:
    ws_dir = tmp_path / "ws"
    shutil.copytree(memorising["ws_dir"], ws_dir)
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        m = ws.vault.manifest(memorising["adapter"])
        d = ws.vault.get_dir(m.ref, tmp_path / "unpacked")
        newer = ws.vault.put_dir(m.name, d, kind="adapter", schema="peft-lora", meta=m.meta)
        for ref in (newer, m.name):          # the bare name resolves to the newer version
            with pytest.raises(PrivacyPolicyError, match="predates") as exc:
                release(gate_site(ws), ref, tmp_path / "r")
            assert exc.value.exit_code == 8
        assert not (tmp_path / "r").exists()
