"""The verdict: each metric of an audit against its threshold, and pass / fail overall.

The verdict document is JSON with numbers, names of metrics and masked examples only; its
SHA-256 (over the canonical serialisation, :func:`canonical`) is the "audit hash" a release
signs.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from privtune.gate.policy import METRICS, OPTIONAL_METRICS, GatePolicy


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      default=str).encode()


def digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


def _json_number(v: float | int | None) -> float | int | str | None:
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, float):
        return round(v, 4)
    return v


def check_metrics(values: dict[str, float | int | None], policy: GatePolicy) -> list[dict[str, Any]]:
    """One row per metric: ``{name, value, threshold, passed, description}``. A metric the audit
    could not measure (``None``) fails when the policy checks it."""
    rows = []
    for name, desc in METRICS.items():
        threshold = getattr(policy, name)
        value = values.get(name)
        if threshold is None or (value is None and name in OPTIONAL_METRICS):
            passed = True
        elif value is None:
            passed = False
        else:
            passed = float(value) <= float(threshold)
        rows.append({"name": name, "value": _json_number(value), "threshold": threshold,
                     "checked": threshold is not None, "passed": passed, "description": desc})
    return rows


def make_verdict(model: dict[str, Any], values: dict[str, float | int | None],
                 policy: GatePolicy, details: dict[str, Any]) -> dict[str, Any]:
    rows = check_metrics(values, policy)
    return {
        "schema": "privtune-audit-verdict/1",
        "passed": all(r["passed"] for r in rows),
        "model": model,
        "metrics": rows,
        "failed": [r["name"] for r in rows if not r["passed"]],
        "policy": policy.model_dump(mode="json"),
        "details": details,
    }
