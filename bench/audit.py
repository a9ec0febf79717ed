"""The privacy gate on the demo company: does it tell a leaking model from a private one?

For each seed, the same data and recipe (the DP recipe's dataset: ticket triage, policy answers,
single-employee facts; canaries from its own templates, 100+ candidates each included with
probability 1/2, at most 10% of the units) is trained

* ``nonprivate``: without DP, to convergence (``--np-steps``, lr 0.005, batch 16);
* ``dp8``: with the DP recipe at epsilon 8;
* ``memorising`` (the baseline the issue asks for when the non-private twin does not leak):
  employee facts only, manager facts included, without DP, to convergence;

then audited with the full attack set (one-run empirical epsilon lower bound, make-up-matched
MIA with LiRA references trained with the target's recipe, attribute inference on real
employees, extraction, prompt attacks). The thresholds are the default gate policy's, fixed
before anything runs and written into the JSON. The non-private models are judged with the
epsilon requirement switched off, so they can fail only through the attacks (on real
employees: MIA and attribute inference, named apart in the table); the DP model by the full
default policy.

Each (variant, seed) is one job in its own process and its own throwaway workspace (same
synthetic company, same dataset: the canary draw is seeded for the bench only); ``--jobs N``
runs N at once (torch threads split between them).

    PYTHONPATH=src .venv/bin/python bench/audit.py --seeds 3 --jobs 9            # the full run
    # the light run of docs/audit-gate.md (2 shared cores): one job at a time, one thread
    PYTHONPATH=src .venv/bin/python bench/audit.py --employees 150 --refs 2 --ref-steps 10 \\
        --np-steps 150 --seeds 3 --jobs 1 --threads 1 --set audit.extraction.employees=6 \\
        --set audit.prompt_attacks.targets=2 --set audit.exposure.candidates=200

Runs split over processes (``--seed-start S --seeds N --name part-S``) are joined by
concatenating their ``results/*.partial.jsonl`` into ``results/audit.partial.jsonl`` and
running ``--table-only``; each job records its own wall time and the load average around it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

VARIANTS = ("nonprivate", "dp8", "memorising")
PASSPHRASE = "privtune bench (synthetic data only, not a secret)"
REAL = ("mia_auc_max", "mia_tpr_at_1pct_fpr_max", "attribute_advantage_max",
        "extraction_exact", "extraction_near", "prompt_attack_leaks")


def _overrides(a: argparse.Namespace, variant: str, seed: int) -> list[str]:
    o = [f"company.employees={a.employees}", "company.seed=7",
         f"dataset.canaries.candidates={a.candidates}", "dataset.canaries.seed=1234",
         f"audit.seed={seed}", f"audit.mia.reference_models={a.refs}",
         f"train.seed={seed}", "train.eval_every=0"]
    if a.ref_steps:
        o.append(f"audit.mia.reference_steps={a.ref_steps}")
    o += list(a.set or [])
    if variant == "dp8":
        o += ["dp.enabled=true", "dp.target_epsilon=8"]
    else:   # the DP recipe's dataset (nonprivate), trained without DP to convergence
        o += [f"train.steps={a.np_steps}", "train.batch_size=16", "train.lr=0.005",
              "train.warmup_steps=10"]
    if variant == "memorising":   # employee facts only, manager facts too, no DP anywhere
        o += ["dataset.templates.policy_qa.enabled=false",
              "dataset.templates.ticket_triage.enabled=false", "dp.enabled=false"]
    return o


def job(args: dict[str, Any]) -> dict[str, Any]:
    """One (variant, seed): its own workspace, dataset, training run and audit."""
    import torch

    torch.set_num_threads(max(1, args["threads"]))
    load0, t0 = os.getloadavg(), time.perf_counter()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("PRIVTUNE_PASSPHRASE", PASSPHRASE)
    from privtune.config import load_config
    from privtune.gate.audit import run_audit
    from privtune.gate.policy import GatePolicy
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.site import gate_site
    from privtune.pipeline.train import train_adapter
    from privtune.synth import generate_company
    from privtune.workspace import init_workspace

    variant, seed = args["variant"], args["seed"]
    cfg = load_config(PipelineConfig, None, args["overrides"])
    policy = GatePolicy.model_validate(args["policy"])
    if variant != "dp8":
        policy = policy.model_copy(update={"epsilon": None})   # attacks alone decide
    with tempfile.TemporaryDirectory(prefix=f"bench-audit-{variant}-{seed}-") as tmp:
        root = Path(tmp)
        generate_company(cfg.company.employees, cfg.company.seed, root / "export",
                         fmt=cfg.company.format)
        ws = init_workspace(root / "ws", name="bench")
        stages = run_stages(ws, cfg, root / "export", stop="base_model", skip=("scan",))
        assert stages.dataset is not None and stages.base_model is not None
        dp = cfg.dp if variant == "dp8" else cfg.dp.model_copy(update={"enabled": False})
        tr = train_adapter(ws, stages.base_model.record, stages.dataset.record.train,
                           stages.dataset.record.val, cfg.train, name=f"adapter-{variant}", dp=dp)
        out = run_audit(gate_site(ws), tr.record.ref, cfg.audit, policy)
        figures = tr.figures
        ds = stages.dataset.figures
        ws.close()
    v = out.verdict
    d = v["details"]
    values = {m["name"]: m["value"] for m in v["metrics"]}
    best = max(d["membership"], key=lambda a: a["auc"]) if d["membership"] else {}
    return {
        "variant": variant, "seed": seed, "passed": v["passed"], "failed": v["failed"],
        "failed_real_employees": [f for f in v["failed"] if f in REAL],
        "epsilon": values.get("epsilon"),
        "empirical_epsilon_lb": (d.get("one_run") or {}).get("epsilon_lower_bound"),
        "one_run": d.get("one_run"),
        "exposure_max": values.get("canary_exposure_max"),
        "mia_auc": best.get("auc"), "mia_attack": best.get("attack"),
        "mia_tpr_at_lowest_fpr": best.get("tpr_at_lowest_fpr"),
        "fpr_resolution": best.get("fpr_resolution"),
        "mia_members": best.get("members"), "mia_non_members": best.get("non_members"),
        "mia": d["membership"], "attributes": d.get("attributes"),
        "attribute_advantage": values.get("attribute_advantage_max"),
        "val_loss": figures.get("final_val_loss"), "val_loss_base": figures.get("initial_val_loss"),
        "train_steps": figures.get("steps"), "train_s": figures.get("train_seconds"),
        "audit_s": round(out.seconds, 1), "timings_s": d.get("timings_s"),
        "dataset": {k: ds.get(k) for k in ("train_examples", "train_employees", "val_employees",
                                            "canaries", "canaries_included", "by_kind")},
        "reference_models": d.get("reference_models"), "profile": v.get("profile"),
        "threads": args["threads"], "job_s": round(time.perf_counter() - t0, 1),
        "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1, help="jobs at once, each its own process")
    ap.add_argument("--employees", type=int, default=700,
                    help="company size (>= ~500 so that 100 candidates stay <= 10%% of units)")
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--np-steps", type=int, default=300, help="non-private steps (convergence)")
    ap.add_argument("--refs", type=int, default=8, help="LiRA references per audit")
    ap.add_argument("--ref-steps", type=int, default=None,
                    help="steps per reference (default: the target's own)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per job (default: CPUs / jobs)")
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--set", action="append", help="extra config override KEY=VALUE (repeatable)")
    ap.add_argument("--name", default="audit", help="results/<name>.json|md")
    ap.add_argument("--table-only", action="store_true",
                    help="rebuild the table from results/<name>.partial.jsonl (a run cut short)")
    a = ap.parse_args(argv or [])
    from common import RESULTS
    from privtune.gate.policy import GatePolicy

    policy = GatePolicy().model_dump(mode="json")          # fixed before anything runs
    cpus = os.cpu_count() or 1
    tasks = [{"variant": v, "seed": s, "overrides": _overrides(a, v, s), "policy": policy,
              "threads": a.threads or max(1, cpus // max(1, a.jobs))}
             for s in range(a.seed_start, a.seed_start + a.seeds) for v in a.variants.split(",")]
    load0, t0 = os.getloadavg(), time.perf_counter()
    partial = RESULTS / f"{a.name}.partial.jsonl"
    results: list[dict[str, Any]] = []
    if a.table_only:
        results = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        partial.write_text("")

        def keep(r: dict[str, Any]) -> None:      # each job's result as soon as it is in
            results.append(r)
            with partial.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
            print(f"{r['variant']} seed {r['seed']}: {'PASS' if r['passed'] else 'FAIL'} "
                  f"{r['failed']} in {r['job_s']} s, load {r['load_before']} -> "
                  f"{r['load_after']}", flush=True)

        if a.jobs > 1:
            import multiprocessing as mp
            from concurrent.futures import as_completed

            with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context("spawn")) as pool:
                for fut in as_completed([pool.submit(job, t) for t in tasks]):
                    keep(fut.result())
        else:
            for t in tasks:
                keep(job(t))
    results.sort(key=lambda r: (VARIANTS.index(r["variant"]), r.get("train_steps") or 0, r["seed"]))
    for r in results:
        print(f"{r['variant']} seed {r['seed']}: {'PASS' if r['passed'] else 'FAIL'} {r['failed']}")
    rows = [_row(r) for r in results]
    columns = ["model", "seed", "gate", "failed on real employees", "exposure max (bits)",
               "empirical eps LB (accountant)", "MIA AUC (best)", "TPR @ lowest FPR",
               "TPR @ 1% FPR (gate)", "attribute adv.", "val loss", "train s", "audit s", "load (1 min)"]
    verdicts = _checks(results)
    loads = [x[0] for r in results for x in (r.get("load_before"), r.get("load_after")) if x]
    write(a.name, {"load_before": load0, "load_after": os.getloadavg(),
                   "wall_s": round(time.perf_counter() - t0, 1), "args": vars(a),
                   "jobs_s": round(sum(r.get("job_s") or 0 for r in results), 1),
                   "jobs_load_1min": [min(loads), max(loads)] if loads else None,
                   "policy": policy, "checks": verdicts, "results": results}, rows, columns)
    print(json.dumps(verdicts, indent=1))


def _checks(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The bench's claims, each true or false over every seed."""
    by = lambda v: [r for r in results if r["variant"] == v]  # noqa: E731
    out: dict[str, Any] = {}
    if by("nonprivate"):
        out["nonprivate fails on real employees, every seed"] = all(
            r["failed_real_employees"] for r in by("nonprivate"))
    if by("memorising"):
        out["memorising baseline fails on real employees, every seed"] = all(
            r["failed_real_employees"] for r in by("memorising"))
    if by("dp8"):
        out["DP model passes, every seed"] = all(r["passed"] for r in by("dp8"))
        out["empirical eps LB <= accountant eps, every DP seed"] = all(
            r["empirical_epsilon_lb"] is None or r["empirical_epsilon_lb"] <= r["epsilon"]
            for r in by("dp8"))
    return out


def _row(r: dict[str, Any]) -> dict[str, Any]:
    f = lambda x, n=3: "—" if x is None else (f"{x:.{n}f}" if isinstance(x, float) else str(x))  # noqa: E731
    eps = r["epsilon"]
    return {
        "model": f"{r['variant']} ({r['train_steps']} steps)", "seed": r["seed"], "gate": "PASS" if r["passed"] else "FAIL",
        "failed on real employees": ", ".join(r["failed_real_employees"]) or "none",
        "exposure max (bits)": f(r["exposure_max"], 2),
        "empirical eps LB (accountant)": f"{f(r['empirical_epsilon_lb'], 2)} ({eps if isinstance(eps, str) else f(eps, 2)})",
        "MIA AUC (best)": f"{f(r['mia_auc'])} ({r['mia_members']}/{r['mia_non_members']})",
        "TPR @ lowest FPR": f"{f(r['mia_tpr_at_lowest_fpr'])} @ {f(r['fpr_resolution'], 4)}",
        "TPR @ 1% FPR (gate)": f(max((m["tpr_at_1pct_fpr"] for m in r["mia"]), default=None)),
        "attribute adv.": f(r["attribute_advantage"]),
        "val loss": f"{f(r['val_loss_base'], 2)} -> {f(r['val_loss'], 2)}",
        "train s": r["train_s"], "audit s": r["audit_s"],
        "load (1 min)": "—" if not r.get("load_before") else
        f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}",
    }


if __name__ == "__main__":
    main(sys.argv[1:])
