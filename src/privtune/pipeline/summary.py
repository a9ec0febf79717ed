"""What a pipeline run leaves behind, for ``privtune run`` and ``privtune demo`` alike:
``summary.json`` (docs/summary.md: config, every stage's figures, checks, gate, warnings) and
``report.html`` (the same figures and the loss curve). Figures only, never personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privtune import __version__
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.result import StageResult
from privtune.records import AuditVerdict
from privtune.reports import line_chart, render_report
from privtune.train.spec import written_spec


def utility(results: dict[str, StageResult[Any]]) -> dict[str, Any] | None:
    """Held-out ticket triage, DP vs the non-private reference (rank classification and exact
    answer); None without a reference."""
    if "reference" not in results or "evaluate" not in results:
        return None
    ev, ref = results["evaluate"].figures, results["reference"].figures
    tr = results["train"].figures
    dp_rank, np_rank = ev.get("triage_rank_accuracy_tuned"), ref.get("triage_rank_accuracy_tuned")
    return {"metric": "held-out ticket triage accuracy",
            "epsilon_person": tr.get("epsilon_person"),
            "dp_rank": dp_rank, "nonprivate_rank": np_rank,
            "base_rank": ev.get("triage_rank_accuracy_base"),
            "dp_exact": ev.get("triage_accuracy_tuned"),
            "nonprivate_exact": ref.get("triage_accuracy_tuned"),
            "gap_points": (round(100 * (np_rank - dp_rank), 1)
                           if isinstance(dp_rank, float) and isinstance(np_rank, float) else None),
            "tickets": ev.get("triage_rank_examples"),
            "categories": ev.get("triage_categories")}


def gate_summary(verdict: AuditVerdict | None, workspace: Path) -> dict[str, Any] | None:
    """The gate's verdict in short; its report's path is absolute (``workspace`` is where the
    workspace will be read from)."""
    if verdict is None:
        return None
    return {"passed": verdict.passed, "failed": list(verdict.failed),
            "profile": verdict.profile, "subjects_probed": dict(verdict.subjects_probed),
            "empirical_epsilon_lb": verdict.empirical_epsilon_lb,
            "accountant_epsilon": verdict.epsilon,
            "report": str(workspace / verdict.report)}


def build_summary(cfg: PipelineConfig, results: dict[str, StageResult[Any]],
                  verdict: AuditVerdict | None, seconds: float, workspace: Path,
                  order: tuple[str, ...]) -> dict[str, Any]:
    """``summary.json`` (docs/summary.md): the resolved config, every stage's figures in
    ``order``, the checks, the DP/non-DP utility, the gate and every warning."""
    return {
        "privtune_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": resolved_config(cfg),
        "stages": {name: results[name].summary() for name in order if name in results},
        "checks": checks(results),
        "utility": utility(results),
        "gate": gate_summary(verdict, workspace),
        "warnings": [w for name in order if name in results for w in results[name].warnings],
        "total_seconds": round(seconds, 2),
    }


def resolved_config(cfg: PipelineConfig) -> dict[str, Any]:
    """The resolved config; a DP run with secure randomness stores no ``train.seed``."""
    out = cfg.model_dump(mode="json")
    out["train"] = written_spec(cfg.train, seeded=not cfg.dp.secure)
    return out


def checks(results: dict[str, StageResult[Any]]) -> list[dict[str, Any]]:
    if not all(k in results for k in ("dataset", "evaluate", "train", "deidentify")):
        return []
    ds, ev, tr = results["dataset"].figures, results["evaluate"].figures, results["train"].figures
    de = results["deidentify"].figures
    dp = [dp_check(tr)] if tr.get("dp") else []
    return dp + [
        {"name": "split by employee", "ok": ds["employees_in_both"] == 0,
         "detail": f"{ds['train_employees']} train / {ds['val_employees']} held-out employees, "
                   f"{ds['employees_in_both']} in both"},
        {"name": "validation loss falls", "ok": ev["val_loss_tuned"] < ev["val_loss_base"],
         "detail": f"{ev['val_loss_base']} -> {ev['val_loss_tuned']} on held-out employees"},
        {"name": "k-anonymity", "ok": de["k"] >= de["k_target"],
         "detail": f"k={de['k']} (target {de['k_target']}), {de['suppressed_rows']} rows suppressed, "
                   f"max re-identification risk {de['max_risk']}"},
    ]


def dp_check(tr: dict[str, Any]) -> dict[str, Any]:
    """The DP line: the person-level epsilon (group privacy over the most units one person's
    data sits in) must meet the target, and is shown next to the unit-level one."""
    person = tr.get("epsilon_person", tr["epsilon"])
    target = tr["target_epsilon"]
    ok = tr["epsilon"] <= target + 1e-9 and person <= target + 1e-9 and tr.get("private") is True
    return {"name": "differential privacy", "ok": ok,
            "detail": f"per person: epsilon {person:g} (group size {tr.get('group_size', '?')}; "
                      f"per {tr['dp_unit']}: {tr['epsilon']:g}) {'<=' if ok else '>'} target "
                      f"{target:g}, delta {tr['delta']:g}"}


def write_report(path: Path, workspace: Path, summary: dict[str, Any], history: list[dict[str, Any]],
                 title: str = "pipeline run") -> None:
    train_pts = [(h["step"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    val_pts = [(h["step"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    chart = line_chart({"train loss": train_pts, "validation loss (held-out employees)": val_pts})
    stages = {name: {k: v for k, v in figs.items()} for name, figs in summary["stages"].items()}
    render_report(path, title=title, stages=stages, workspace=str(workspace),
                  created_at=summary["created_at"], chart=chart, verdicts=summary["checks"])
