"""The demo: the whole pipeline on a synthetic HR company, stage by stage, nothing else.

Everything is built in ``OUT.partial/`` and moved to ``OUT/`` only when every stage has
succeeded, so a failed or interrupted demo never leaves a half-written result (and a previous
result stays as it was). ``OUT/`` holds ``summary.json``, ``report.html`` and ``workspace/``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtune.gate.policy import DEMO_PROFILE, GatePolicy
from privtune.gate.workspace_policy import set_policy
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.recipe import run_recipe
from privtune.pipeline.result import StageResult
from privtune.pipeline.run import STAGES as PIPELINE_STAGES
from privtune.pipeline.run import Stages
from privtune.pipeline.site import gate_site
from privtune.progress import Reporter, Silent
from privtune.synth import generate_company
from privtune.tmp import private_tempdir
from privtune.vault import KekSpec
from privtune.vault.kek import ENV_PASSPHRASE
from privtune.workspace import init_workspace

#: The demo workspace's vault passphrase when PRIVTUNE_PASSPHRASE is not set. It protects
#: synthetic data only and is printed by `privtune demo`: never use it for real data.
DEMO_PASSPHRASE = "privtune-demo (synthetic data only, not a secret)"  # noqa: S105 (public by design)

#: The keys of ``summary.json["stages"]``, in pipeline order (documented in docs/summary.md):
#: the pipeline's stages between the synthetic company and the non-private reference, then the
#: serving smoke test (the released model asked two questions through ``privtune serve``).
STAGES = ("company", *PIPELINE_STAGES, "reference", "serve")

#: The demo's audit (profile "demo") trains 2 LiRA references of 20 steps, and its 300-person
#: company yields about 30 candidate canaries; the demo workspace's gate policy accepts that
#: much (see :func:`demo_gate_policy`), the shipped policy does not.
DEMO_MIN_REFERENCE_MODELS = 2
DEMO_MIN_CANDIDATES = 20


def demo_gate_policy(policy: GatePolicy) -> GatePolicy:
    """The demo workspace's gate policy: the config's metric limits unchanged, and the weakest
    audit it accepts for a release lowered to the demo's light one (profile "demo", 2 reference
    models, 20 candidate canaries). Only a demo workspace of synthetic people gets it; the
    shipped policy (``privtune config show gate-policy``) asks for the full profile, 8 reference
    models and 100 candidates, and a release records the profile it was audited with."""
    return policy.model_copy(update={
        "profiles": sorted({*policy.profiles, DEMO_PROFILE}),
        "min_reference_models": min(policy.min_reference_models, DEMO_MIN_REFERENCE_MODELS),
        "min_candidates": min(policy.min_candidates, DEMO_MIN_CANDIDATES)})


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
             reporter: Reporter | None = None, reference: bool = True,
             serve: bool = True) -> DemoResult:
    """The demo; ``reference``: with DP on, also train the same recipe without DP (same data,
    same steps, fixed batches of the DP run's expected size) and evaluate it the same way, so
    the summary shows what DP costs in held-out triage accuracy; ``serve``: when the model was
    released, start ``privtune serve`` on a free loopback port, ask it two questions with the
    ``openai`` client and stop it (stage ``serve``: the answers as a caller got them, with what
    output redaction masked)."""
    cfg = config or PipelineConfig()
    # The demo's audit is the named lighter profile, marked as such in its verdict; a release
    # accepts it only where the workspace policy lists "demo" in its profiles (docs/audit-gate.md).
    # It trains 2 LiRA references of 20 steps (a full audit: 8 with the target's own steps).
    mia = cfg.audit.mia.model_copy(update={"reference_models": min(cfg.audit.mia.reference_models, 2),
                                           "reference_steps": cfg.audit.mia.reference_steps or 20})
    cfg = cfg.model_copy(update={"audit": cfg.audit.model_copy(
        update={"profile": DEMO_PROFILE, "mia": mia})})
    # The audit is judged by the demo workspace's policy, which accepts that lighter audit for a
    # release (demo_gate_policy); the model is released, verified and served when it passes.
    cfg = cfg.model_copy(update={"gate": demo_gate_policy(cfg.gate),
                                 "run": cfg.run.model_copy(update={"release": True})})
    rep = reporter or Silent()
    out = Path(out_dir)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        passphrase = os.environ.get(ENV_PASSPHRASE) or DEMO_PASSPHRASE
        ws = init_workspace(partial / "workspace", name="demo",
                            kek=KekSpec("passphrase", passphrase=passphrase))
        admin_key = ws.initial_key.secret if ws.initial_key else ""
        with ws:
            # The demo workspace's own gate policy is the config's: the audit below is judged by it.
            set_policy(gate_site(ws), cfg.gate)
            before: dict[str, StageResult[Any]] = {}

            @contextmanager
            def company() -> Iterator[Path]:
                """The synthetic export: it holds personal data in clear, so it lives in a
                private temp dir only until it is in the vault (the ingest stage)."""
                with private_tempdir("export") as export, rep.stage("company") as p:
                    t0 = time.perf_counter()
                    files = generate_company(cfg.company.employees, cfg.company.seed, export,
                                             fmt=cfg.company.format)
                    before["company"] = StageResult("company", None, figures={
                        "employees": cfg.company.employees, "seed": cfg.company.seed,
                        "format": cfg.company.format, **_counts(files)},
                        seconds=time.perf_counter() - t0)
                    p(1, 1, {})
                    yield export

            def after(stages: Stages) -> dict[str, StageResult[Any]]:
                more: dict[str, StageResult[Any]] = {}
                if reference and cfg.dp.enabled:
                    more["reference"] = _reference(ws, cfg, stages, rep)
                if serve and stages.verify is not None:
                    more["serve"] = _serve(ws, stages, rep)
                return more

            # `before` is filled when the ingest stage enters company(): pass it by reference
            result = run_recipe(ws, cfg, company, rep, out_dir=partial, resume=False,
                                before=before, after=after, workspace_shown=out.resolve() / "workspace",
                                title="demo run")
            summary = result.summary
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


def _serve(ws: Any, stages: Stages, rep: Reporter) -> StageResult[Any]:
    """The serving smoke test: the released adapter behind ``privtune serve`` (auth, policy,
    output redaction, audit) on a free loopback port, two questions asked with the official
    ``openai`` client by a temporary ``app`` user, then the server stopped."""
    from privtune.serve.service import serve_smoke

    t0 = time.perf_counter()
    model = stages.verify.figures["model"] if stages.verify is not None else None
    with rep.stage("serve (openai client)") as p:
        answers = serve_smoke(ws, model=model)
        p(1, 1, {})
    figures = {"model": model, "questions": len(answers),
               "answers": [{"question": a.question, "answer": a.answer, "masked": a.masked,
                            "completion_tokens": a.completion_tokens,
                            "finish_reason": a.finish_reason} for a in answers],
               "masked": {t: sum(a.masked.get(t, 0) for a in answers)
                          for t in sorted({t for a in answers for t in a.masked})}}
    return StageResult("serve", None, figures=figures, seconds=time.perf_counter() - t0)


def _counts(files: Any) -> dict[str, Any]:
    counts = getattr(files, "counts", None)
    return dict(counts) if isinstance(counts, dict) else {}
