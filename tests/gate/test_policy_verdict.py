"""Gate policy (YAML, strict) and the verdict: each metric against its threshold."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from privtune.errors import ConfigError
from privtune.gate.policy import METRICS, GatePolicy, load_policy
from privtune.gate.verdict import canonical, check_metrics, digest, make_verdict

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"canary_exposure_max": 1.2, "mia_auc_max": 0.52, "mia_tpr_at_1pct_fpr_max": 0.0,
        "extraction_exact": 0, "extraction_near": 0, "prompt_attack_leaks": 0, "epsilon": math.inf}
# The default policy requires DP (issue 15); the metric tests below judge a non-private model
# with the DP requirement switched off, as the default was before.
NO_DP = GatePolicy(epsilon=None)


def test_shipped_policy_equals_the_defaults() -> None:
    assert load_policy(ROOT / "configs" / "gate-policy.yaml") == GatePolicy()


def test_policy_yaml_overrides_and_unknown_keys(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("mia_auc_max: 0.6\nepsilon: 8\n")
    pol = load_policy(p, ["extraction_near=0"])
    assert pol.mia_auc_max == 0.6 and pol.epsilon == 8 and pol.extraction_near == 0
    p.write_text("mia_auc: 0.6\n")
    with pytest.raises(ConfigError, match="mia_auc_max"):
        load_policy(p)
    p.write_text("mia_auc_max: 1.5\n")
    with pytest.raises(ConfigError):
        load_policy(p)


def test_each_metric_is_checked_against_its_threshold() -> None:
    rows = {r["name"]: r for r in check_metrics(GOOD, NO_DP)}
    assert list(rows) == list(METRICS)
    assert all(r["passed"] for r in rows.values())
    assert rows["epsilon"]["value"] == "inf" and rows["epsilon"]["checked"] is False
    bad = dict(GOOD, canary_exposure_max=10.5, extraction_exact=1)
    v = make_verdict({"ref": "adapter@1"}, bad, NO_DP, {})
    assert v["passed"] is False and v["failed"] == ["canary_exposure_max", "extraction_exact"]
    # exactly at the threshold passes (thresholds are maxima)
    assert make_verdict({}, dict(GOOD, canary_exposure_max=10.0), NO_DP, {})["passed"]


def test_unmeasured_metric_fails_only_when_checked() -> None:
    values = dict(GOOD, canary_exposure_max=None)
    assert make_verdict({}, values, NO_DP, {})["failed"] == ["canary_exposure_max"]
    assert make_verdict({}, values, GatePolicy(canary_exposure_max=None, epsilon=None), {})["passed"]


def test_epsilon_requirement() -> None:
    pol = GatePolicy(epsilon=8.0)
    assert make_verdict({}, GOOD, pol, {})["failed"] == ["epsilon"]          # not private
    assert make_verdict({}, dict(GOOD, epsilon=7.9), pol, {})["passed"]


def test_default_policy_requires_dp() -> None:
    rows = {r["name"]: r for r in check_metrics(GOOD, GatePolicy())}
    assert rows["epsilon"]["checked"] is True and rows["epsilon"]["passed"] is False
    assert make_verdict({}, GOOD, GatePolicy(), {})["failed"] == ["epsilon"]   # not private
    assert make_verdict({}, dict(GOOD, epsilon=8.0), GatePolicy(), {})["passed"]
    assert make_verdict({}, dict(GOOD, epsilon=8.01), GatePolicy(), {})["failed"] == ["epsilon"]
    pol = GatePolicy()
    assert pol.epsilon == 8.0 and pol.delta_max == 1e-5 and pol.profiles == ["full"]


def test_digest_is_over_the_canonical_form() -> None:
    a = make_verdict({"ref": "x"}, GOOD, GatePolicy(), {"k": [1, 2]})
    b = dict(reversed(list(a.items())))
    assert canonical(a) == canonical(b) and digest(a) == digest(b)
    assert digest(dict(a, passed=not a["passed"])) != digest(a)
