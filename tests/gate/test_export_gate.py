"""Every way a model leaves the vault goes through the gate (issue 15), on the memorising run:

- an ml-engineer's ``privtune export`` of an adapter that was never released is refused (exit 8)
  and writes nothing; ``--unaudited`` is admin-only, audited as ``model.export_unaudited``, marked
  in the model card, and shows in lineage downstream of the adapter;
- an audit judged by a lenient ``--policy`` file, or weaker than the workspace policy's minimums,
  does not allow a release; the default policy refuses a non-DP model and says why;
- a released model is exported by an ml-engineer; quarantined or revoked, it is not; the
  verdict records the attack settings, the policy hash and the real employees probed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from privtune.access import admin
from privtune.cli.main import run
from privtune.gate.policy import GatePolicy
from privtune.gate.workspace_policy import set_policy
from privtune.lineage.graph import lineage_of
from privtune.pipeline.site import gate_site
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

pytestmark = pytest.mark.slow

CHEAP = ["exposure.candidates=20", "mia.reference_models=0", "extraction.employees=0",
         "extraction.samples=0", "prompt_attacks.enabled=false"]
# Metrics and the DP requirement off; the audit minimums as the defaults (8 references,
# 100 candidate canaries, 20 employees).
OPEN_METRICS = dict(canary_exposure_max=None, mia_auc_max=None, mia_tpr_at_1pct_fpr_max=None,
                    extraction_exact=None, extraction_near=None, prompt_attack_leaks=None, attribute_advantage_max=None,
                    epsilon=None)
LENIENT = dict(OPEN_METRICS, min_reference_models=0, min_candidates=0, min_subjects=0)


def _cli(args: list[str], key: str = ADMIN_KEY) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = os.environ["PRIVTUNE_API_KEY"]
    os.environ["PRIVTUNE_API_KEY"] = key
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(args)
    finally:
        os.environ["PRIVTUNE_API_KEY"] = old
    return code, out.getvalue(), err.getvalue()


def _events(ws_dir: Path, op: str) -> list[AuditEvent]:
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws, ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.op == op)
                              .order_by(AuditEvent.seq)))


@pytest.fixture()
def ws_copy(memorising, tmp_path) -> dict:
    ws_dir = tmp_path / "ws"
    shutil.copytree(memorising["ws_dir"], ws_dir)
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        eng = admin.add_user(ws.access, ws.store, "eng", "ml-engineer").secret
    return {"dir": ws_dir, "w": str(ws_dir), "eng": eng, "adapter": memorising["adapter"]}


def test_ml_engineer_cannot_export_an_unaudited_adapter(ws_copy, tmp_path) -> None:
    w, eng, adapter = ws_copy["w"], ws_copy["eng"], ws_copy["adapter"]
    for extra in ([], ["--merged"]):
        out = tmp_path / f"leak{len(extra)}"
        code, _, err = _cli(["export", adapter, "-o", str(out), "-w", w, *extra], eng)
        assert code == 8, err
        assert "has not been released" in err and "Traceback" not in err
        assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    # --unaudited is not the ml-engineer's way around the gate: refused and audited
    code, _, err = _cli(["export", adapter, "-o", str(tmp_path / "x"), "--unaudited", "-w", w], eng)
    assert code == 7 and "model.export_unaudited" in err and not (tmp_path / "x").exists()
    ev = _events(ws_copy["dir"], "model.export_unaudited")[-1]
    assert (ev.outcome, ev.role, ev.object) == ("deny", "ml-engineer", adapter)


def test_admin_unaudited_export_is_audited_marked_and_in_lineage(ws_copy, tmp_path) -> None:
    w, adapter = ws_copy["w"], ws_copy["adapter"]
    out = tmp_path / "unaudited"
    code, stdout, err = _cli(["export", adapter, "-o", str(out), "--unaudited", "-w", w])
    assert code == 0, err
    assert "UNAUDITED" in stdout
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert "unaudited" in front["tags"] and "UNAUDITED EXPORT" in card and "not passed" in card
    ev = _events(ws_copy["dir"], "model.export_unaudited")[-1]
    assert (ev.outcome, ev.role, ev.object) == ("allow", "admin", adapter)
    with Workspace.open(ws_copy["dir"], api_key=ADMIN_KEY) as ws:
        down = lineage_of(ws.vault, adapter).downstream()
        assert down == ["export-adapter@1"]
        meta = ws.vault.manifest("export-adapter@1").meta
    assert meta["status"] == "unaudited" and meta["adapter_ref"] == adapter
    assert meta["files"] == ["README.md", "adapter_config.json", "adapter_model.safetensors"]


def test_audit_under_a_lenient_policy_file_is_refused_at_release(ws_copy, tmp_path) -> None:
    """The model's owner audits with ``--policy lenient.yaml`` (every check off): the audit
    passes, the release refuses it (another policy hash) and says so."""
    w, adapter = ws_copy["w"], ws_copy["adapter"]
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(yaml.safe_dump(LENIENT))
    code, out, err = _cli(["audit", adapter, "--json", "--policy", str(lenient), "-w", w, *CHEAP])
    assert code == 0, err
    verdict = json.loads(out)
    assert verdict["passed"] is True and verdict["policy_sha256"] != GatePolicy().model_dump()
    code, _, err = _cli(["release", adapter, "-w", w, "--out", str(tmp_path / "rel")])
    assert code == 8 and "another gate policy than the workspace's" in err
    assert not (tmp_path / "rel").exists()
    # the same audit under the workspace's own policy (minimums as the defaults): too weak
    with Workspace.open(ws_copy["dir"], api_key=ADMIN_KEY) as ws:
        set_policy(gate_site(ws), GatePolicy(**OPEN_METRICS))
    code, _, err = _cli(["audit", adapter, "-w", w, *CHEAP])
    assert code == 0, err
    code, _, err = _cli(["release", adapter, "-w", w, "--out", str(tmp_path / "rel")])
    assert code == 8
    assert "0 reference models < the policy's minimum 8" in err
    assert "candidate canaries in the one-run audit < the policy's minimum 100" in err
    assert not (tmp_path / "rel").exists()


def test_default_policy_refuses_a_non_dp_model_and_says_why(ws_copy, tmp_path) -> None:
    w, adapter = ws_copy["w"], ws_copy["adapter"]
    with Workspace.open(ws_copy["dir"], api_key=ADMIN_KEY) as ws:
        # every metric off, the minimums met by the cheap audit; the DP requirement as the default
        set_policy(gate_site(ws), GatePolicy(**dict(LENIENT, epsilon=8.0)))
    code, out, err = _cli(["audit", adapter, "--json", "-w", w, *CHEAP])
    assert code == 8
    verdict = json.loads(out)
    assert set(verdict["failed"]) == {"epsilon", "dp_requirement"}
    assert "without differential privacy" in verdict["details"]["dp_requirement"][0]
    code, _, err = _cli(["release", adapter, "-w", w, "--out", str(tmp_path / "rel")])
    assert code == 8 and "epsilon" in err and "dp_requirement" in err


def test_released_model_exports_until_quarantined_or_revoked(ws_copy, tmp_path) -> None:
    w, eng, adapter = ws_copy["w"], ws_copy["eng"], ws_copy["adapter"]
    with Workspace.open(ws_copy["dir"], api_key=ADMIN_KEY) as ws:
        set_policy(gate_site(ws), GatePolicy(**LENIENT))
    code, out, err = _cli(["audit", adapter, "--json", "-w", w, *CHEAP])
    assert code == 0, err
    verdict = json.loads(out)
    assert verdict["settings"]["exposure"]["candidates"] == 20 and verdict["profile"] == "full"
    probed = verdict["subjects_probed"]
    members = verdict["details"]["membership"][0]
    assert probed["membership"]["real_employees"] == members["members"] + members["non_members"] > 0
    assert probed["exposure"]["real_employees"] == 0
    assert probed["exposure"]["canaries"] == len(verdict["details"]["canaries"]) > 0
    html = (ws_copy["dir"] / "reports" / "audits" / f"{verdict['audit_id']}.html").read_text()
    assert "Real employees probed" in html and verdict["policy_sha256"][:16] in html
    code, _, err = _cli(["release", adapter, "-w", w, "--out", str(tmp_path / "rel")], eng)
    assert code == 7 and "release.approve" in err              # releasing is not the engineer's
    code, out, err = _cli(["release", adapter, "-w", w, "--out", str(tmp_path / "rel")])
    assert code == 0, err
    code, out, _ = _cli(["release", "list", "--json", "-w", w], eng)
    rows = json.loads(out)
    assert [(r["model"], r["state"]) for r in rows] == [(adapter, "released")]
    assert rows[0]["audit"] == verdict["audit_id"]
    signed = json.loads((tmp_path / "rel" / "release.json").read_text())
    assert signed["release_id"] == rows[0]["release"] and signed["schema"] == "privtune-release/2"
    assert signed["policy_sha256"] == verdict["policy_sha256"] == rows[0]["policy_sha256"]
    assert signed["signer_key_id"] == rows[0]["signer"]
    code, out, _ = _cli(["release", "list", "-w", w], eng)  # the table: ids whole, 80 columns
    assert code == 0 and rows[0]["release"] in out and adapter in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = _cli(["release", "list", "--wide", "-w", w], eng)
    assert code == 0 and rows[0]["audit"] in out and rows[0]["signer"] in out
    code, _, err = _cli(["verify-release", str(tmp_path / "rel"), "-w", w])
    assert code == 0, err

    out_dir = tmp_path / "exported"
    code, _, err = _cli(["export", adapter, "-o", str(out_dir), "-w", w], eng)
    assert code == 0, err
    card = (out_dir / "README.md").read_text()
    assert rows[0]["release"] in card and "UNAUDITED" not in card
    assert _events(ws_copy["dir"], "model.export")[-1].outcome == "allow"

    code, _, err = _cli(["release", "quarantine", adapter, "--reason", "INC-7", "-w", w], eng)
    assert code == 7
    code, _, err = _cli(["release", "quarantine", adapter, "--reason", "INC-7", "-w", w])
    assert code == 0, err
    code, _, err = _cli(["export", adapter, "-o", str(tmp_path / "e2"), "-w", w], eng)
    assert code == 8 and "quarantined" in err and not (tmp_path / "e2").exists()
    code, _, err = _cli(["release", adapter, "-w", w, "--out", str(tmp_path / "rel2")])
    assert code == 8 and "quarantined" in err
    code, _, err = _cli(["release", "revoke", adapter, "--yes", "-w", w])
    assert code == 0, err
    code, out, _ = _cli(["release", "list", "--json", "-w", w])
    assert [r["state"] for r in json.loads(out)] == ["revoked"]
    with Workspace.open(ws_copy["dir"], api_key=ADMIN_KEY) as ws:
        assert lineage_of(ws.vault, adapter).downstream() == ["export-adapter@1"]
