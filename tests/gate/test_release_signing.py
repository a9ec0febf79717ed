"""A model that passed is released, signed, and verifies; any tampering fails verification.
Also the CLI: ``privtune audit --json`` exit codes and ``privtune release`` / ``verify-release``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privtune.attacks.spec import AuditSpec
from privtune.cli.main import run
from privtune.config import load_config
from privtune.errors import IntegrityError
from privtune.gate.audit import run_audit
from privtune.gate.policy import GatePolicy
from privtune.gate.release import (
    MANIFEST,
    PUBKEY_FILE,
    VERDICT,
    load_public_key,
    release,
    verify_release,
)
from privtune.gate.workspace_policy import set_policy
from privtune.pipeline.site import gate_site
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

pytestmark = pytest.mark.slow

CHEAP = ["exposure.candidates=20", "mia.reference_models=0", "extraction.employees=0",
         "extraction.samples=0", "prompt_attacks.enabled=false"]
# Release judges by the workspace's policy (issue 15): the permissive one is made the
# workspace's, with the DP requirement and the audit minimums off for this non-private model.
PERMISSIVE = GatePolicy(canary_exposure_max=None, mia_auc_max=None, mia_tpr_at_1pct_fpr_max=None,
                        extraction_exact=None, extraction_near=None, prompt_attack_leaks=None, attribute_advantage_max=None,
                        epsilon=None, min_reference_models=0, min_candidates=0, min_subjects=0)


@pytest.fixture(scope="module")
def released(memorising, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("release")
    ws_dir = root / "ws"
    shutil.copytree(memorising["ws_dir"], ws_dir)
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        set_policy(gate_site(ws), PERMISSIVE)
        out = run_audit(gate_site(ws), memorising["adapter"], load_config(AuditSpec, None, CHEAP))
        assert out.passed
        res = release(gate_site(ws), memorising["adapter"], root / "rel")
    return {"ws_dir": ws_dir, "dir": res.directory, "manifest": res.manifest, "audit": out,
            "root": root}


def _key(released) -> object:
    return load_public_key((released["ws_dir"] / PUBKEY_FILE).read_bytes())


def _copy(released, tmp_path: Path) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(released["dir"], d)
    return d


def test_release_signs_adapter_audit_and_epsilon(released) -> None:
    m = released["manifest"]
    assert m["model_ref"].startswith("adapter@") and len(m["adapter_sha256"]) == 64
    assert m["audit_id"] == released["audit"].audit_id
    assert m["dp"] is False and m["epsilon"] is None
    doc = verify_release(released["dir"], _key(released))
    assert doc == m
    assert json.loads((released["dir"] / VERDICT).read_text())["passed"] is True


def test_tampered_adapter_fails_verification(released, tmp_path) -> None:
    d = _copy(released, tmp_path)
    p = d / "adapter_model.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="tampered") as exc:
        verify_release(d, _key(released))
    assert exc.value.exit_code == 5


def test_tampered_manifest_or_verdict_or_foreign_key_fail(released, tmp_path) -> None:
    d = _copy(released, tmp_path)
    doc = json.loads((d / MANIFEST).read_text())
    doc["epsilon"] = 1.0
    (d / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match="signature"):
        verify_release(d, _key(released))
    d2 = tmp_path / "copy2"
    shutil.copytree(released["dir"], d2)
    v = json.loads((d2 / VERDICT).read_text())
    v["passed"] = True
    v["metrics"][0]["value"] = 0.0
    (d2 / VERDICT).write_text(json.dumps(v))
    with pytest.raises(IntegrityError, match="audit hash"):
        verify_release(d2, _key(released))
    with pytest.raises(IntegrityError, match="signature"):
        verify_release(released["dir"], Ed25519PrivateKey.generate().public_key())


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(args)
    return code, out.getvalue(), err.getvalue()


def test_cli_audit_json_fails_with_exit_8_then_release_refuses(memorising, tmp_path) -> None:
    ws_dir = tmp_path / "ws"
    shutil.copytree(memorising["ws_dir"], ws_dir)
    policy = tmp_path / "policy.yaml"
    policy.write_text("canary_exposure_max: 12.0\nmia_auc_max: null\n")
    code, out, err = _cli(["audit", memorising["adapter"], "--json", "--policy", str(policy),
                           "-w", str(ws_dir), *CHEAP])
    assert code == 8, err
    verdict = json.loads(out)
    # no DP: the policy's epsilon requirement (defaults) fails it whatever the attacks find
    assert verdict["passed"] is False and "epsilon" in verdict["failed"]
    row = next(m for m in verdict["metrics"] if m["name"] == "mia_auc_max")
    assert row["checked"] is False and row["passed"] is True
    assert "fails the privacy gate" in err and "Traceback" not in err
    code, _, err = _cli(["release", memorising["adapter"], "-w", str(ws_dir)])
    assert code == 8 and "failed the privacy gate" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("canary_exposure: 3\n")
    code, _, err = _cli(["audit", memorising["adapter"], "--policy", str(bad), "-w", str(ws_dir)])
    assert code == 2 and "canary_exposure_max" in err


def test_cli_release_and_verify(released, tmp_path) -> None:
    code, out, err = _cli(["verify-release", str(released["dir"]), "-w", str(released["ws_dir"])])
    assert code == 0, err
    assert "verified" in out
    d = _copy(released, tmp_path)
    (d / "adapter_config.json").write_text((d / "adapter_config.json").read_text() + " ")
    code, _, err = _cli(["verify-release", str(d), "--pubkey",
                         str(released["ws_dir"] / PUBKEY_FILE)])
    assert code == 5 and "tampered" in err
