"""The release registry and the workspace gate policy without a model: who may change them
(audited), what a release requires (DP, audit strength, the workspace's policy hash), state
transitions, and rows whose columns disagree with their signed record."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.errors import InputError, IntegrityError, NotFoundError, PermissionDenied, PrivacyPolicyError
from privtune.gate.policy import GatePolicy, policy_sha256
from privtune.gate.registry import (
    change_state,
    check_registered,
    entries,
    list_releases,
    register,
    require_released,
)
from privtune.gate.requirements import dp_problems, gate_epsilon, strength_problems
from privtune.gate.workspace_policy import set_policy, view_policy, workspace_policy
from privtune.pipeline.site import gate_site
from privtune.records import ReleaseRecord
from privtune.store.audit_models import AuditEvent
from privtune.store.gate_models import ReleaseEntry
from privtune.workspace import Workspace

SHA = "ab" * 32
DP_OK = {"dp": True, "epsilon": 7.5, "delta": 1e-6, "units": 240}


def _last_event(ws: Workspace) -> AuditEvent:
    with ws.store.session() as s:
        ev = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    assert ev is not None
    return ev


def _as(ws: Workspace, role: str) -> Workspace:
    key = admin.add_user(ws.access, ws.store, f"u-{role}", role)
    return Workspace.open(ws.root, api_key=key.secret)


# ---------------------------------------------------------------- the DP requirement
def test_default_policy_requires_dp_epsilon_and_delta() -> None:
    pol = GatePolicy()
    assert dp_problems(DP_OK, pol) == []
    assert "without differential privacy" in dp_problems({"dp": False}, pol)[0]
    assert "epsilon 9 exceeds" in dp_problems(dict(DP_OK, epsilon=9.0), pol)[0]
    # delta <= min(1e-5, 1/(100 n)): 240 units -> 1e-5; 20 000 units -> 5e-7
    assert dp_problems(dict(DP_OK, delta=1e-5), pol) == []
    assert "delta 0.0001 exceeds" in dp_problems(dict(DP_OK, delta=1e-4), pol)[0]
    assert "5e-07" in dp_problems(dict(DP_OK, delta=1e-6, units=20_000), pol)[0]
    assert dp_problems({"dp": False}, GatePolicy(epsilon=None)) == []


def test_insecure_reproducible_run_is_refused_whatever_the_policy() -> None:
    for flag in ({"insecure_reproducible": True}, {"private": False}):
        for pol in (GatePolicy(), GatePolicy(epsilon=None)):
            problems = dp_problems({**DP_OK, **flag}, pol)
            assert problems and "insecure_reproducible" in problems[0]


def test_person_level_epsilon_wins_over_unit_level() -> None:
    assert gate_epsilon(DP_OK) == (7.5, "unit")
    assert gate_epsilon(dict(DP_OK, person_epsilon=9.5)) == (9.5, "person")
    assert gate_epsilon({"dp": False, "epsilon": 1.0}) == (None, "none")
    assert "person-level epsilon 9.5" in dp_problems(dict(DP_OK, person_epsilon=9.5), GatePolicy())[0]
    assert gate_epsilon(dict(DP_OK, epsilon=math.nan))[0] is None


# ---------------------------------------------------------------- audit strength
def _verdict(profile: str = "full", refs: int = 8, candidates: int = 100, subjects: int = 40) -> dict:
    details: dict = {"one_run": {"candidates": candidates}}
    if refs:
        details["reference_models"] = {"count": refs}
    return {"profile": profile, "settings": {"exposure": {"candidates": 500}},
            "details": details, "subjects_probed": {"membership": {"real_employees": subjects}}}


def test_audit_weaker_than_the_policy_minimums_is_named() -> None:
    pol = GatePolicy()
    assert strength_problems(_verdict(), pol) == []
    problems = " | ".join(strength_problems(_verdict("demo", 2, 48, 6), pol))
    assert "'demo' profile" in problems and "2 reference models < the policy's minimum 8" in problems
    assert "48 candidate canaries in the one-run audit < the policy's minimum 100" in problems
    assert "6 real employees probed" in problems
    assert strength_problems(_verdict("demo"), GatePolicy(profiles=["full", "demo"])) == []
    assert "predates" in strength_problems({"passed": True}, pol)[0]


# ---------------------------------------------------------------- the workspace policy
def test_workspace_policy_defaults_then_set_by_admin_only_and_audited(workspace) -> None:
    site = gate_site(workspace)
    wp = view_policy(site)
    assert wp.version == 0 and wp.policy == GatePolicy() and wp.sha256 == policy_sha256(GatePolicy())
    lenient = GatePolicy(epsilon=None, mia_auc_max=None)
    for role in ("ml-engineer", "auditor", "viewer", "data-steward"):
        with _as(workspace, role) as other:
            with pytest.raises(PermissionDenied, match=r"policy\.write"):
                set_policy(gate_site(other), lenient)
            ev = _last_event(other)
            assert (ev.op, ev.outcome, ev.role) == ("policy.write", "deny", role)
    assert workspace_policy(workspace.store).version == 0
    wp = set_policy(site, lenient)
    assert wp.version == 1 and wp.policy == lenient and wp.sha256 == policy_sha256(lenient)
    ev = _last_event(workspace)
    assert (ev.op, ev.object, ev.outcome) == ("policy.write", "gate-policy", "allow")
    assert wp.sha256 in ev.detail and policy_sha256(GatePolicy()) in ev.detail


def test_edited_stored_policy_is_an_integrity_error(workspace) -> None:
    set_policy(gate_site(workspace), GatePolicy())
    from privtune.store.gate_models import GatePolicyVersion

    with workspace.store.session() as s:
        row = s.get(GatePolicyVersion, 1)
        row.policy = dict(row.policy, epsilon=None)
    with pytest.raises(IntegrityError, match="gate_policies version 1"):
        workspace_policy(workspace.store)


# ---------------------------------------------------------------- the registry
def _record(ref: str = "adapter@1", rid: str = "rel-1") -> ReleaseRecord:
    return ReleaseRecord(model_ref=ref, adapter_sha256=SHA, files={"a": SHA}, base_sha256=SHA,
                         audit_id="audit-1", audit_sha256=SHA, audit_passed=True, dp=True,
                         epsilon=7.5, delta=1e-6, released_at="2026-01-01T00:00:00",
                         public_key="AAAA", release_id=rid, policy_sha256=SHA, profile="full",
                         signer_key_id="0123456789abcdef")


def test_registry_states_permissions_and_export_check(workspace) -> None:
    ref = workspace.vault.put("adapter", b"not really an adapter", kind="adapter")
    site = gate_site(workspace)
    with pytest.raises(PrivacyPolicyError, match="has not been released"):
        require_released(workspace.store, ref, SHA)
    rec = _record(ref)
    register(workspace.store, rec, "u-admin")
    assert require_released(workspace.store, ref, SHA).state == "released"
    # verify-release's registry check: the signed bundle is good only while its row is released
    assert check_registered(site, rec.release_id, ref).state == "released"
    with pytest.raises(PrivacyPolicyError, match="not in this workspace's release registry"):
        check_registered(site, "rel-unknown", ref)
    with pytest.raises(PrivacyPolicyError, match="hash differs"):
        require_released(workspace.store, ref, "cd" * 32)
    with _as(workspace, "ml-engineer") as eng:
        with pytest.raises(PermissionDenied, match=r"release\.approve"):
            change_state(gate_site(eng), ref, "revoked")
        assert _last_event(eng).op == "release.approve" and _last_event(eng).outcome == "deny"
        assert [r.state for r in list_releases(gate_site(eng))] == ["released"]
    with pytest.raises(InputError, match="reason"):
        change_state(site, ref, "quarantined", "line one\nline two")
    row = change_state(site, ref, "quarantined", "INC-42")
    assert row.state == "quarantined" and row.reason == "INC-42"
    ev = _last_event(workspace)
    assert (ev.op, ev.object, ev.outcome) == ("release.approve", ref, "allow") and "quarantined" in ev.detail
    with pytest.raises(PrivacyPolicyError, match="quarantined"):
        require_released(workspace.store, ref, SHA)
    with pytest.raises(PrivacyPolicyError, match=r"was quarantined .* must not be used"):
        check_registered(site, rec.release_id, ref)
    assert change_state(site, ref, "revoked").state == "revoked"
    with pytest.raises(PrivacyPolicyError, match="was revoked"):
        check_registered(site, rec.release_id, ref)
    with pytest.raises(PrivacyPolicyError, match="cannot be marked quarantined"):
        change_state(site, ref, "quarantined")
    with pytest.raises(PrivacyPolicyError, match="revoked"):
        require_released(workspace.store, ref, SHA)
    with pytest.raises(InputError, match="unknown release state"):
        change_state(site, ref, "released")
    other = workspace.vault.put("adapter", b"v2", kind="adapter")
    with pytest.raises(NotFoundError, match="no release"):
        change_state(site, other, "revoked")


def test_registry_row_whose_columns_disagree_with_its_record_is_refused(workspace) -> None:
    ref = workspace.vault.put("adapter", b"x", kind="adapter")
    register(workspace.store, _record(ref), "u-admin")
    with workspace.store.session() as s:
        s.get(ReleaseEntry, "rel-1").adapter_sha256 = "cd" * 32   # point it at other bytes
    with pytest.raises(IntegrityError, match="releases row rel-1"):
        entries(workspace.store)
    with pytest.raises(IntegrityError, match="releases row rel-1"):
        require_released(workspace.store, ref, "cd" * 32)


# ---------------------------------------------------------------- the CLI
@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_cli_policy_show_set_and_release_list(workspace, tmp_path, monkeypatch, capsys) -> None:
    import json

    from privtune.cli.main import run

    w = str(workspace.root)
    viewer = admin.add_user(workspace.access, workspace.store, "v", "viewer").secret
    assert run(["policy", "show", "--json", "-w", w]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 0 and shown["policy"]["epsilon"] == 8.0
    p = tmp_path / "p.yaml"
    p.write_text("mia_auc_max: 0.6\nprofiles: [full, demo]\n")
    monkeypatch.setenv("PRIVTUNE_API_KEY", viewer)
    assert run(["policy", "set", str(p), "-w", w]) == 7
    assert "policy.write" in capsys.readouterr().err
    assert run(["release", "list", "-w", w]) == 0                 # reading the registry: metadata.read
    monkeypatch.undo()
    assert run(["policy", "set", str(p), "-w", w]) == 0
    assert "version 1" in capsys.readouterr().out
    assert run(["policy", "show", "-w", w]) == 0
    out = capsys.readouterr().out
    assert "version 1" in out and "mia_auc_max: 0.6" in out and "- demo" in out
    p.write_text("mia_auc_max: 0.6\nprofiles: [lenient]\n")
    assert run(["policy", "set", str(p), "-w", w]) == 2              # unknown profile
    assert run(["release", "list", "--json", "-w", w]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run(["release", "nope", "-w", w]) == 4                    # release MODEL = release create MODEL
    assert run(["release", "revoke", "nope", "--yes", "-w", w]) == 4


# ---------------------------------------------------------------- the people's budget at release
def test_release_checks_the_peoples_cumulative_epsilon_in_the_ledger(workspace) -> None:
    """Two DP runs on the same people spent 4 + 4; a budget forced down to 6 afterwards makes
    any model trained on them unreleasable (the reason names the source and the sum)."""
    from types import SimpleNamespace

    from privtune.dp import ledger
    from privtune.gate.release import _budget_problems

    site = gate_site(workspace)
    record = SimpleNamespace(train_data="trainset@1")
    for run in ("run-a", "run-b"):
        ledger.admit(workspace.access.check, workspace.store, run, "trainset@1", 4.0, 1e-6)
    assert _budget_problems(site, record) == []             # 8 of the default budget
    ledger.set_budget(workspace.access.check, workspace.store, "trainset", 6.0, force=True)
    problems = _budget_problems(site, record)
    assert len(problems) == 1 and "'trainset'" in problems[0]
    assert "spent epsilon 8 over 2 DP runs, above their budget 6" in problems[0]
