"""The demo: the whole pipeline on a synthetic HR company, stage by stage, nothing else.

Everything is built in ``OUT.partial/`` and moved to ``OUT/`` only when every stage has
succeeded, so a failed or interrupted demo never leaves a half-written result (and a previous
result stays as it was). ``OUT/`` holds ``summary.json``, ``report.html`` and ``workspace/``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privtune import __version__
from privtune.fsutil import atomic_write_text
from privtune.gate.policy import DEMO_PROFILE
from privtune.gate.workspace_policy import set_policy
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.result import StageResult
from privtune.pipeline.run import run_stages
from privtune.pipeline.site import gate_site
from privtune.progress import Reporter, Silent
from privtune.records import AuditVerdict
from privtune.reports import line_chart, render_report
from privtune.synth import generate_company
from privtune.tmp import private_tempdir
from privtune.train.spec import written_spec
from privtune.vault import KekSpec
from privtune.vault.kek import ENV_PASSPHRASE
from privtune.workspace import init_workspace

#: The demo workspace's vault passphrase when PRIVTUNE_PASSPHRASE is not set. It protects
#: synthetic data only and is printed by `privtune demo`: never use it for real data.
DEMO_PASSPHRASE = "privtune-demo (synthetic data only, not a secret)"  # noqa: S105 (public by design)

#: The keys of ``summary.json["stages"]``, in pipeline order (documented in docs/summary.md).
STAGES = ("company", "ingest", "scan", "deidentify", "dataset", "base_model", "train", "evaluate",
          "audit", "reference")


@dataclass
class DemoResult:
    out_dir: Path
    summary: dict[str, Any]
    #: True when the workspace's vault uses DEMO_PASSPHRASE (PRIVTUNE_PASSPHRASE was not set).
    demo_passphrase: bool = False
    admin_key: str = ""  # the demo workspace's admin API key, shown once by the CLI

    @property
    def summary_path(self) -> Path:
        return self.out_dir / "summary.json"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def workspace_dir(self) -> Path:
        return self.out_dir / "workspace"


def run_demo(out_dir: str | Path, config: PipelineConfig | None = None,
             reporter: Reporter | None = None, reference: bool = True) -> DemoResult:
    """The demo; ``reference``: with DP on, also train the same recipe without DP (same data,
    same steps, fixed batches of the DP run's expected size) and evaluate it the same way, so
    the summary shows what DP costs in held-out triage accuracy."""
    cfg = config or PipelineConfig()
    # The demo's audit is the named lighter profile, marked as such in its verdict; a release
    # accepts it only where the workspace policy lists "demo" in its profiles (docs/audit-gate.md).
    # It trains 2 LiRA references of 20 steps (a full audit: 8 with the target's own steps).
    mia = cfg.audit.mia.model_copy(update={"reference_models": min(cfg.audit.mia.reference_models, 2),
                                           "reference_steps": cfg.audit.mia.reference_steps or 20})
    cfg = cfg.model_copy(update={"audit": cfg.audit.model_copy(
        update={"profile": DEMO_PROFILE, "mia": mia})})
    rep = reporter or Silent()
    out = Path(out_dir)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    t_start = time.perf_counter()
    try:
        passphrase = os.environ.get(ENV_PASSPHRASE) or DEMO_PASSPHRASE
        ws = init_workspace(partial / "workspace", name="demo",
                            kek=KekSpec("passphrase", passphrase=passphrase))
        admin_key = ws.initial_key.secret if ws.initial_key else ""
        with ws:
            # The demo workspace's own gate policy is the config's: the audit below is judged by it.
            set_policy(gate_site(ws), cfg.gate)
            # The export holds personal data in clear: it lives in a private temp dir only
            # until it is in the vault.
            with private_tempdir("export") as export:
                with rep.stage("company") as p:
                    t0 = time.perf_counter()
                    files = generate_company(cfg.company.employees, cfg.company.seed, export,
                                             fmt=cfg.company.format)
                    company = StageResult("company", None, figures={
                        "employees": cfg.company.employees, "seed": cfg.company.seed,
                        "format": cfg.company.format, **_counts(files)},
                        seconds=time.perf_counter() - t0)
                    p(1, 1, {})
                stages = run_stages(ws, cfg, export, rep, stop="ingest")
            stages = run_stages(ws, cfg, None, rep, start="scan", prior=stages)
            results: dict[str, StageResult[Any]] = {"company": company, **stages.ran()}
            if reference and cfg.dp.enabled:
                results["reference"] = _reference(ws, cfg, stages, rep)
            trained = stages.train.record if stages.train is not None else None
            verdict = stages.audit.record if stages.audit is not None else None
            summary = _summary(cfg, results, verdict, time.perf_counter() - t_start)
            atomic_write_text(partial / "summary.json", json.dumps(summary, indent=2))
            _report(partial / "report.html", out / "workspace", summary,
                    trained.history if trained is not None else [])
        if out.exists():
            old = out.with_name(out.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            partial.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return DemoResult(out, summary, demo_passphrase=passphrase == DEMO_PASSPHRASE,
                      admin_key=admin_key)


def _reference(ws: Any, cfg: PipelineConfig, stages: Any, rep: Reporter) -> StageResult[Any]:
    """The non-private reference: the DP run's recipe without DP, evaluated like it. It is
    listed in the ledger as a run without DP and never audited or released."""
    from privtune.pipeline.train import evaluate_adapter, train_adapter

    t0 = time.perf_counter()
    base, ds = stages.base_model.record, stages.dataset.record
    spec = cfg.train.model_copy(update={"batch_size": cfg.dp.expected_batch_size})
    with rep.stage("non-private reference (LoRA)", spec.steps) as p:
        trained = train_adapter(ws, base, ds.train, ds.val, spec, p,
                                name="reference-nonprivate", dp=None)
    with rep.stage("evaluate reference") as p:
        ev = evaluate_adapter(ws, base, trained.record)
        p(1, 1, {})
    keep = ("triage_accuracy_tuned", "triage_rank_accuracy_tuned", "triage_rank_examples",
            "val_loss_tuned")
    figures = {"dp": False, "steps": trained.figures["steps"],
               "batch_size": spec.batch_size, "train_seconds": trained.figures["train_seconds"],
               **{k: ev.figures[k] for k in keep if k in ev.figures}}
    return StageResult("reference", None, outputs=trained.outputs, figures=figures,
                       seconds=time.perf_counter() - t0)


def _utility(results: dict[str, StageResult[Any]]) -> dict[str, Any] | None:
    """Held-out ticket triage, DP vs the non-private reference (rank classification and exact
    answer); None without a reference."""
    if "reference" not in results:
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


def _counts(files: Any) -> dict[str, Any]:
    counts = getattr(files, "counts", None)
    return dict(counts) if isinstance(counts, dict) else {}


def _gate(verdict: AuditVerdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {"passed": verdict.passed, "failed": list(verdict.failed),
            "profile": verdict.profile, "subjects_probed": dict(verdict.subjects_probed),
            "empirical_epsilon_lb": verdict.empirical_epsilon_lb,
            "accountant_epsilon": verdict.epsilon,
            "report": f"workspace/{verdict.report}"}


def _summary(cfg: PipelineConfig, results: dict[str, StageResult[Any]],
             verdict: AuditVerdict | None, seconds: float) -> dict[str, Any]:
    return {
        "privtune_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": _config(cfg),
        "stages": {name: results[name].summary() for name in STAGES if name in results},
        "checks": _checks(results),
        "utility": _utility(results),
        "gate": _gate(verdict),
        "total_seconds": round(seconds, 2),
    }


def _config(cfg: PipelineConfig) -> dict[str, Any]:
    """The resolved config; a DP run with secure randomness stores no ``train.seed``."""
    out = cfg.model_dump(mode="json")
    out["train"] = written_spec(cfg.train, seeded=not cfg.dp.secure)
    return out


def _checks(results: dict[str, StageResult[Any]]) -> list[dict[str, Any]]:
    ds, ev, tr = results["dataset"].figures, results["evaluate"].figures, results["train"].figures
    de = results["deidentify"].figures
    dp = [_dp_check(tr)] if tr.get("dp") else []
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


def _dp_check(tr: dict[str, Any]) -> dict[str, Any]:
    """The DP line: the person-level epsilon (group privacy over the most units one person's
    data sits in) must meet the target, and is shown next to the unit-level one."""
    person = tr.get("epsilon_person", tr["epsilon"])
    target = tr["target_epsilon"]
    ok = tr["epsilon"] <= target + 1e-9 and person <= target + 1e-9 and tr.get("private") is True
    return {"name": "differential privacy", "ok": ok,
            "detail": f"per person: epsilon {person:g} (group size {tr.get('group_size', '?')}; "
                      f"per {tr['dp_unit']}: {tr['epsilon']:g}) {'<=' if ok else '>'} target "
                      f"{target:g}, delta {tr['delta']:g}"}


def _report(path: Path, workspace: Path, summary: dict[str, Any], history: list[dict[str, Any]]) -> None:
    train_pts = [(h["step"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    val_pts = [(h["step"], h["val_loss"]) for h in history if h.get("val_loss") is not None]
    chart = line_chart({"train loss": train_pts, "validation loss (held-out employees)": val_pts})
    stages = {name: {k: v for k, v in figs.items()} for name, figs in summary["stages"].items()}
    render_report(path, title="demo run", stages=stages, workspace=str(workspace),
                  created_at=summary["created_at"], chart=chart, verdicts=summary["checks"])
