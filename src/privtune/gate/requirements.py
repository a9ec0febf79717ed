"""What a release requires besides passing metrics: a private training run (the DP requirement)
and an audit at least as strong as the workspace policy's minimums, under that very policy.

Each check returns the problems as sentences (empty: satisfied); the audit records them in its
verdict and the release refuses with them (:class:`~privtune.errors.PrivacyPolicyError`).
"""

from __future__ import annotations

import math
from typing import Any

from privtune.gate.policy import DELTA_UNITS_FACTOR, GatePolicy

#: Keys a DP record may carry its person-level epsilon under (the person-level accounting is being
#: added in parallel; the first number found wins, else the unit-level ``epsilon``).
PERSON_EPSILON_KEYS = ("person_epsilon", "epsilon_person", "person_level_epsilon")


def is_dp(privacy: dict[str, Any]) -> bool:
    return bool(privacy.get("dp") or privacy.get("enabled"))


def insecure(privacy: dict[str, Any]) -> bool:
    """True for a run whose noise or sampling came from a seeded generator (tests only)."""
    return bool(privacy.get("insecure_reproducible")) or privacy.get("private") is False


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def gate_epsilon(privacy: dict[str, Any]) -> tuple[float | None, str]:
    """``(epsilon, level)``: person-level when the record has it, else unit-level; ``None`` for a
    run without DP."""
    if not is_dp(privacy):
        return None, "none"
    for key in PERSON_EPSILON_KEYS:
        eps = _number(privacy.get(key))
        if eps is not None:
            return eps, "person"
    person = privacy.get("person")
    if isinstance(person, dict) and _number(person.get("epsilon")) is not None:
        return _number(person.get("epsilon")), "person"
    return _number(privacy.get("epsilon")), "unit"


def delta_bound(policy: GatePolicy, units: int | None) -> float | None:
    """The largest delta the policy accepts for ``units`` privacy units."""
    if policy.delta_max is None:
        return None
    if units and units > 0:
        return min(policy.delta_max, 1.0 / (DELTA_UNITS_FACTOR * units))
    return policy.delta_max


def dp_problems(privacy: dict[str, Any], policy: GatePolicy) -> list[str]:
    """Why the training run does not meet the policy's DP requirement (empty when it does).
    A run marked ``insecure_reproducible`` is refused whatever the policy says."""
    if insecure(privacy):
        return ["the training run is marked insecure_reproducible (seeded sampling and noise, "
                "for tests only): it is not private"]
    if policy.epsilon is None:
        return []
    if not is_dp(privacy):
        return [f"the model was trained without differential privacy; the workspace policy "
                f"requires DP with epsilon <= {policy.epsilon:g}"]
    out = []
    eps, level = gate_epsilon(privacy)
    if eps is None:
        out.append("the DP record has no epsilon")
    elif eps > policy.epsilon:
        out.append(f"{level}-level epsilon {eps:g} exceeds the policy's {policy.epsilon:g}")
    units = privacy.get("units")
    bound = delta_bound(policy, units if isinstance(units, int) else None)
    delta = _number(privacy.get("delta"))
    if bound is not None:
        if delta is None:
            out.append("the DP record has no delta")
        elif delta > bound:
            out.append(f"delta {delta:g} exceeds min({policy.delta_max:g}, 1/({DELTA_UNITS_FACTOR}"
                       f" x {units} units)) = {bound:.3g}")
    return out


def strength(verdict: dict[str, Any]) -> dict[str, Any]:
    """What an audit actually did, from its verdict: profile, reference models trained,
    candidate canaries of the one-run audit and real employees probed."""
    details = verdict.get("details") or {}
    probed = verdict.get("subjects_probed") or {}
    refs = (details.get("reference_models") or {}).get("count", 0)
    return {
        "profile": verdict.get("profile"),
        "reference_models": int(refs or 0),
        "candidates": (details.get("one_run") or {}).get("candidates"),
        "subjects": int((probed.get("membership") or {}).get("real_employees", 0)),
    }


def strength_problems(verdict: dict[str, Any], policy: GatePolicy) -> list[str]:
    """Why the audit is weaker than the policy's minimums (empty when it is not)."""
    if "settings" not in verdict or "subjects_probed" not in verdict:
        return ["the audit does not record its attack settings (it predates the release "
                "registry); audit the model again"]
    s = strength(verdict)
    out = []
    if s["profile"] not in policy.profiles:
        out.append(f"the audit ran the '{s['profile']}' profile; the workspace policy accepts "
                   f"{', '.join(policy.profiles)}")
    if s["reference_models"] < policy.min_reference_models:
        out.append(f"{s['reference_models']} reference models < the policy's minimum "
                   f"{policy.min_reference_models}")
    if not isinstance(s["candidates"], int) or s["candidates"] < policy.min_candidates:
        out.append(f"{s['candidates']} candidate canaries in the one-run audit < the policy's "
                   f"minimum {policy.min_candidates}")
    if s["subjects"] < policy.min_subjects:
        out.append(f"{s['subjects']} real employees probed by membership inference < the "
                   f"policy's minimum {policy.min_subjects}")
    return out


def empirical_epsilon_row(lower_bound: float | None, privacy: dict[str, Any]) -> dict[str, Any]:
    """The verdict row of the one-run empirical epsilon lower bound: it fails when the bound
    exceeds the accountant's **unit-level** epsilon of a DP run (each canary is one unit, so
    that is the claim it tests; the person-level figure is only larger), which would refute the
    run's DP claim (a broken implementation or accounting); a run without DP has nothing to
    contradict."""
    eps = _number(privacy.get("epsilon")) if is_dp(privacy) else None
    accountant = None if eps is None or insecure(privacy) else eps
    passed = lower_bound is None or accountant is None or lower_bound <= accountant
    return {"name": "empirical_epsilon_lower_bound",
            "value": None if lower_bound is None else round(lower_bound, 4),
            "threshold": accountant, "checked": True, "passed": passed,
            "description": "one-run empirical epsilon lower bound (Steinke et al. 2023) over the "
            "candidate canaries; must not exceed the accountant's epsilon"}
