"""Utility of the DP recipe: held-out ticket-triage accuracy, DP vs non-private.

For each synthetic company size the pipeline runs up to the base model once (the DP recipe's
dataset: population tasks, ``dataset.tasks`` default, split by employee), then LoRA is trained
with the recipe of :class:`privtune.pipeline.config.PipelineConfig` (``train:`` and ``dp:``
defaults), once without DP and once per epsilon with employee-level DP (person-level epsilon:
group size 1 under the recipe), with the same number of steps. A non-private run takes fixed
batches of the DP run's expected batch size. Each trained adapter is scored on the held-out
employees' tickets by

* rank classification: the likelihood of each of the categories' answers, best one wins
  (:func:`privtune.train.classify.rank_accuracy`; chance is 1 / categories), and
* exact generation: greedy decoding equals the answer (the demo's metric).

Runs are independent processes (one torch thread each): ``--jobs N`` runs N at once. Results:
``bench/results/dp_utility.json`` and ``.md`` (mean and sd over the repeats, wall time, load).

    PYTHONPATH=src python bench/dp_utility.py --jobs 16 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (employees, epsilon) grid: epsilon 8 at three sizes, epsilon 1/3/8 at 1,000 employees.
GRID = ((300, 8.0), (1000, 1.0), (1000, 3.0), (1000, 8.0), (3000, 8.0))
TRIAGE = "ticket_triage"
MAX_EVAL = 200  # held-out tickets scored per run


def prepare(d: Path, employees: int, dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """Company -> de-identified data -> the DP recipe's dataset and the tiny base (once per size)."""
    from privtune.io import read_jsonl
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.synth import generate_company
    from privtune.vault import KekSpec
    from privtune.workspace import init_workspace

    cfg = PipelineConfig.model_validate({"company": {"employees": employees},
                                         "dataset": dataset or {}})
    cfg = cfg.model_copy(update={"dataset": cfg.dataset.model_copy(
        update={"canaries": cfg.dataset.canaries.model_copy(update={"enabled": False})})})
    generate_company(employees, cfg.company.seed, d / "export")
    with init_workspace(d / "ws", kek=KekSpec("passphrase", passphrase="bench (synthetic data)")) as ws:
        stages = run_stages(ws, cfg, d / "export", stop="base_model", skip=("scan",))
        assert stages.dataset is not None and stages.base_model is not None
        ds, base = stages.dataset.record, stages.base_model.record.dir
        train, val = read_jsonl(ws.vault, ds.train), read_jsonl(ws.vault, ds.val)
        tasks = stages.dataset.figures["tasks"]
        # the base lives in the workspace: copy it out so the workspace can close
        import shutil

        shutil.copytree(base, d / "base")
    (d / "train.jsonl").write_text("\n".join(json.dumps(x) for x in train))
    (d / "val.jsonl").write_text("\n".join(json.dumps(x) for x in val))
    units = len({u for x in train for u in (x.get("employee_ids") or [])})
    return {"dir": str(d), "employees": employees, "tasks": tasks, "train": len(train),
            "train_units": units,
            "val_triage": sum(1 for x in val if x["kind"] == TRIAGE),
            "train_triage": sum(1 for x in train if x["kind"] == TRIAGE)}


def one_run(job: dict[str, Any]) -> dict[str, Any]:
    """Train one adapter (``epsilon`` None: non-private) and score held-out triage."""
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false"})
    import torch

    torch.set_num_threads(job.get("threads", 1))
    from privtune.dp.plan import make_plan
    from privtune.dp.strategy import DPStepStrategy
    from privtune.pipeline.config import PipelineConfig
    from privtune.train.classify import answer_of, rank_accuracy
    from privtune.train.generate import generate, load_adapter
    from privtune.train.lora import finetune_lora

    d = Path(job["dir"])
    train = [json.loads(x) for x in (d / "train.jsonl").read_text().splitlines()]
    val = [json.loads(x) for x in (d / "val.jsonl").read_text().splitlines()]
    cfg = PipelineConfig.model_validate({"train": job.get("train", {}), "dp": job.get("dp", {})})
    if job.get("triage_only_eval_loss"):
        val = [x for x in val if x["kind"] == TRIAGE]
    spec = cfg.train.model_copy(update={"eval_every": 0, "seed": job["repeat"]})
    eps = job["epsilon"]
    strategy, privacy = None, {"dp": False}
    if eps is not None:
        dp = cfg.dp.model_copy(update={"enabled": True, "target_epsilon": eps})
        plan = make_plan(dp, [e.get("employee_ids") or [] for e in train], spec.steps,
                         [e.get("mentions") or [] for e in train])
        strategy = DPStepStrategy(plan)
        privacy = plan.record()
    else:  # same steps; fixed batches of the DP run's expected size
        spec = spec.model_copy(update={"batch_size": cfg.dp.expected_batch_size})
    triage = [x for x in val if x["kind"] == TRIAGE][:MAX_EVAL]
    choices = sorted({answer_of(x) for x in train + val if x["kind"] == TRIAGE})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptbench-dpu-") as out:
        res = finetune_lora(d / "base", train, val, spec, Path(out) / "a", strategy=strategy)
        train_s = time.perf_counter() - t0
        model, tok = load_adapter(d / "base", Path(out) / "a")
        rank = rank_accuracy(model, tok, triage, choices, spec.max_seq_len)
        exact = sum(_norm(generate(model, tok, [m for m in x["messages"] if m["role"] != "assistant"],
                                   max_new_tokens=8)) == _norm(answer_of(x)) for x in triage)
        if job["repeat"] == 0 and eps is None:
            with model.disable_adapter():
                base_rank = rank_accuracy(model, tok, triage, choices, spec.max_seq_len)
        else:
            base_rank = None
    return {"employees": job["employees"], "epsilon": eps, "repeat": job["repeat"],
            "rank_acc": rank, "exact_acc": exact / max(1, len(triage)), "base_rank_acc": base_rank,
            "val_loss": res.final_val_loss, "train_s": round(train_s, 1),
            "wall_s": round(time.perf_counter() - t0, 1), "n_eval": len(triage),
            "choices": len(choices),
            "epsilon_person": privacy.get("epsilon_person"), "sigma": privacy.get("noise_multiplier"),
            "q": privacy.get("sampling_rate"), "delta": privacy.get("delta"),
            "batch": cfg.dp.expected_batch_size}


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".").split())


def _stat(xs: list[float]) -> str:
    if not xs:
        return ""
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):.1f} ± {100 * sd:.1f}"


def summarise(runs: list[dict[str, Any]], grid: list[tuple[int, float]]) -> list[dict[str, Any]]:
    rows = []
    for n, eps in grid:
        dp = [r for r in runs if r["employees"] == n and r["epsilon"] == eps]
        npv = [r for r in runs if r["employees"] == n and r["epsilon"] is None]
        if not dp:
            continue
        base = [r["base_rank_acc"] for r in npv if r["base_rank_acc"] is not None]
        gap = (statistics.mean(r["rank_acc"] for r in npv) - statistics.mean(r["rank_acc"] for r in dp)
               if npv else None)
        rows.append({
            "employees": n, "epsilon (person)": round(dp[0]["epsilon_person"], 3),
            "delta": dp[0]["delta"], "sigma": round(dp[0]["sigma"], 3), "q": round(dp[0]["q"], 3),
            "batch": dp[0].get("batch"),
            "runs": len(dp), "held-out tickets": dp[0]["n_eval"],
            "DP rank acc %": _stat([r["rank_acc"] for r in dp]),
            "non-private rank acc %": _stat([r["rank_acc"] for r in npv]),
            "gap (points)": None if gap is None else round(100 * gap, 1),
            "DP exact %": _stat([r["exact_acc"] for r in dp]),
            "non-private exact %": _stat([r["exact_acc"] for r in npv]),
            "base rank acc %": _stat(base), "chance %": round(100 / dp[0]["choices"], 1),
            "DP s/run": round(statistics.mean(r["wall_s"] for r in dp), 1),
            "non-private s/run": round(statistics.mean(r["wall_s"] for r in npv), 1) if npv else None,
        })
    return rows


COLUMNS = ["employees", "epsilon (person)", "delta", "sigma", "q", "batch", "runs", "held-out tickets",
           "DP rank acc %", "non-private rank acc %", "gap (points)", "DP exact %",
           "non-private exact %", "base rank acc %", "chance %", "DP s/run", "non-private s/run"]


def main(repeats: int = 5, jobs: int = 1, grid: list[tuple[int, float]] | None = None,
         big_repeats: int | None = None, write_results: bool = True,
         overrides: dict[str, Any] | None = None,
         nonprivate: bool = True, sampling_rate: float | None = None) -> list[dict[str, Any]]:
    """``sampling_rate``: each size's expected batch is that share of its training units
    (``q`` fixed, so the batch grows with the company) instead of the recipe's fixed
    ``dp.expected_batch_size``; the non-private run takes fixed batches of the same size."""
    from common import write

    grid = list(grid or GRID)
    load_before, t0 = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptbench-dpu-") as d:
        sizes = sorted({n for n, _ in grid})
        data = {n: prepare(Path(d) / f"c{n}", n, (overrides or {}).get("dataset"))
                for n in sizes}
        print({n: {k: v for k, v in x.items() if k != "dir"} for n, x in data.items()}, flush=True)
        jobs_list = []
        for n in sizes:
            reps = repeats if (big_repeats is None or n <= 1000) else big_repeats
            epss: list[float | None] = [*([None] if nonprivate else []),
                                        *sorted({e for m, e in grid if m == n})]
            job_over = dict(overrides or {})
            if sampling_rate is not None:
                batch = max(1, round(sampling_rate * data[n]["train_units"]))
                job_over["dp"] = {**job_over.get("dp", {}), "expected_batch_size": batch}
            for eps in epss:
                for k in range(reps):
                    jobs_list.append({"dir": data[n]["dir"], "employees": n, "epsilon": eps,
                                      "repeat": k, **job_over})
        runs = []
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for r in pool.map(one_run, jobs_list):
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()},
                      flush=True)
                runs.append(r)
    rows = summarise(runs, grid)
    if write_results:
        from privtune.pipeline.config import PipelineConfig

        cfg = PipelineConfig()
        write("dp_utility", {
            "recipe": {"train": cfg.train.model_dump(mode="json"),
                       "dp": cfg.dp.model_dump(mode="json"), "overrides": overrides or {}},
            "datasets": {n: {k: v for k, v in x.items() if k != "dir"} for n, x in data.items()},
            "repeats": repeats, "big_repeats": big_repeats, "jobs": jobs, "threads_per_run": 1,
            "sampling_rate": sampling_rate,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "wall_s": round(time.perf_counter() - t0, 1), "runs": runs}, rows, COLUMNS)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--big-repeats", type=int, default=None,
                    help="repeats for companies above 1,000 employees (default: --repeats)")
    ap.add_argument("--grid", default=None, help="e.g. '300:8,1000:1' (default: the full grid)")
    ap.add_argument("--override", default=None, help="JSON {'train': {...}, 'dp': {...}}")
    ap.add_argument("--sampling-rate", type=float, default=None,
                    help="expected batch = this share of each size's training units (q fixed)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-nonprivate", action="store_true", help="DP runs only (tuning)")
    a = ap.parse_args()
    g = ([(int(x.split(":")[0]), float(x.split(":")[1])) for x in a.grid.split(",")]
         if a.grid else None)
    main(a.repeats, a.jobs, g, a.big_repeats, not a.no_write,
         json.loads(a.override) if a.override else None, not a.no_nonprivate, a.sampling_rate)
