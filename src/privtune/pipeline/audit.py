"""Stage ``audit``: the privacy audit of the trained adapter and the gate's verdict.

A thin stage over :func:`privtune.gate.audit.run_audit` with the pipeline config's ``audit``
settings and ``gate`` policy; its record is the :class:`~privtune.records.AuditVerdict`, its
figures are numbers only (see docs/audit-gate.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from privtune.attacks.mia import Outsider
from privtune.attacks.spec import AuditSpec
from privtune.gate.audit import run_audit
from privtune.gate.policy import GatePolicy
from privtune.gate.site import GateSite
from privtune.pipeline.result import StageResult
from privtune.progress import ProgressFn
from privtune.records import AuditVerdict


def audit_stage(site: GateSite, adapter_ref: str, spec: AuditSpec, policy: GatePolicy,
                progress: ProgressFn | None = None,
                outsiders: Mapping[str, Outsider] | None = None
                ) -> StageResult[AuditVerdict]:
    """``outsiders``: people known to be outside the adapter's data (erased ones), placed
    among the held-out employees (see :func:`run_audit`)."""
    out = run_audit(site, adapter_ref, spec, policy, progress=progress, outsiders=outsiders)
    v = out.verdict
    values = {m["name"]: m["value"] for m in v["metrics"]}
    d = v["details"]
    figures = {
        "passed": out.passed,
        "failed": v["failed"],
        "audit_id": out.audit_id,
        "exposure_max_by_repetitions": {k: x["max"] for k, x in d["exposure_by_repetitions"].items()},
        "mia_auc_max": values["mia_auc_max"],
        "mia_tpr_at_1pct_fpr_max": values["mia_tpr_at_1pct_fpr_max"],
        "mia": {a["attack"]: a["auc"] for a in d["membership"]},
        "mia_employees": (f"{d['membership'][0]['members']} in / {d['membership'][0]['non_members']} out"
                          if d["membership"] else "—"),
        "extraction_exact": values["extraction_exact"],
        "extraction_near": values["extraction_near"],
        "prompt_attack_leaks": values["prompt_attack_leaks"],
        "epsilon": values["epsilon"],
        "report": out.record.report,
        "profile": v.get("profile"),
        "policy_sha256": v.get("policy_sha256"),
        "subjects_probed": dict(out.record.subjects_probed),
        "dp_requirement": list(d.get("dp_requirement") or []),
        "empirical_epsilon_lb": out.record.empirical_epsilon_lb,
        "canary_candidates": (d.get("one_run") or {}).get("candidates", 0),
        "attribute_advantage": values.get("attribute_advantage_max"),
    }
    if d.get("outsiders"):
        figures["outsiders"] = d["outsiders"]
    return StageResult("audit", out.record, figures=figures, seconds=out.seconds)
