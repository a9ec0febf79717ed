"""Stage ``audit``: the privacy audit of the trained adapter and the gate's verdict.

A thin stage over :func:`privtune.gate.audit.run_audit` with the pipeline config's ``audit``
settings and ``gate`` policy; its figures are numbers only (see docs/audit-gate.md).
"""

from __future__ import annotations

from typing import Any

from privtune.pipeline.result import ProgressFn, StageResult


def audit_stage(ws: Any, adapter_ref: str, cfg: Any, progress: ProgressFn | None = None) -> StageResult:
    from privtune.gate.audit import run_audit

    out = run_audit(ws, adapter_ref, cfg.audit, cfg.gate, progress=progress)
    v = out.verdict
    values = {m["name"]: m["value"] for m in v["metrics"]}
    d = v["details"]
    res = StageResult("audit")
    res.figures = {
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
        "report": str(out.report_path.relative_to(ws.root)),
    }
    res.extra["gate"] = {"passed": out.passed, "failed": v["failed"],
                         "report": f"workspace/{res.figures['report']}"}
    res.seconds = out.seconds
    return res
