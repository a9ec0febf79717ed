"""Federated and multi-process training (issue 21): round time, bytes, utility, DDP speed-up.

* **federation**: ``privtune.federated.simulate`` (real SuperLink + SuperNodes as processes on
  loopback) on the synthetic companies, ``ROUNDS`` rounds, with and without SecAgg+, with and
  without TLS (without TLS there is no node authentication either: Flower authenticates nodes
  over TLS only), for 3 sites (and 6 with ``FED_SIX=1``). Per round: wall seconds (the
  ServerApp's clock from one aggregation to the next, so it includes the ClientApp processes'
  start-up: each round starts fresh processes that import torch and load the model), and the
  bytes every site's ClientApp sent (the payload Flower serialises: recorded by
  ``recording_mod``; TLS and gRPC framing not included) and received (the global adapter).
* **utility**: mean validation loss over the held-out employees of every site for the base
  model, the federated adapter (3 sites, SecAgg+), centralised DP training on the union of the
  sites' training sets, and each site alone, all with the same noise multiplier, sampling rate,
  clipping bound, number of steps (= rounds) and a constant learning rate equal to the server's.
* **DDP**: the same plain LoRA run on 1 and 2 processes (``train.nproc``), tokens per second.

The machine has 2 cores shared with other jobs: ``OMP_NUM_THREADS=1``, tiny models, and the
load average is recorded before and after every part. Results: bench/results/federated.{json,md}.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

ROUNDS = int(os.environ.get("FED_ROUNDS", "2"))
SEQ = 256  # tokens per example (the sites' ticket examples run past 128)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _base(root: Path) -> Path:
    from privtune.models.pretrain import TinyBaseSpec, ensure_tiny_base
    from privtune.models.tiny import TinyModelSpec

    r = random.Random(5)
    words = ["employees", "managers", "leave", "policy", "request", "ticket", "payroll", "the",
             "team", "must", "may", "submit", "days", "benefits", "office", "category"]
    texts = [" ".join(r.choice(words) for _ in range(r.randint(10, 24))).capitalize() + "."
             for _ in range(200)]
    model = TinyModelSpec(vocab_size=512, hidden_size=64, intermediate_size=128,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=256)
    return ensure_tiny_base(texts, TinyBaseSpec(model=model, steps=60, batch_size=8, seq_len=64,
                                                warmup=4), root / "base")


def _record_bytes(fed: Any) -> dict[str, int]:
    return {s.name: sum(f.stat().st_size for f in s.record_dir.glob("*.bin")) for s in fed.sites}


def federation(root: Path, base: Path, sites: int, secagg: bool, tls: bool) -> tuple[dict, Any]:
    from privtune.federated.plan import FederatedSpec
    from privtune.federated.simulate import prepare, run_federation
    from privtune.train.spec import LoraSpec

    spec = FederatedSpec(rounds=ROUNDS, secagg=secagg, round_timeout_s=300, max_examples_per_unit=2,
                         max_seq_len=SEQ)
    lora = LoraSpec(r=4, dropout=0.0)
    load0 = _load()
    fed = prepare(root, sites, base_dir=base)
    fed.tls_on = tls
    with fed:
        before = _record_bytes(fed)
        out = run_federation(fed, spec, lora)
        after = _record_bytes(fed)
    rounds = out["rounds"]
    sent = sum(after.values()) - sum(before.values())
    import numpy as np

    from privtune.federated.server import build_lora_model, get_arrays

    model, _ = build_lora_model(base, lora, seed=0)
    adapter_bytes = sum(a.nbytes for a in get_arrays(model))
    row = {"sites": sites, "secagg": secagg, "tls": tls, "rounds": len(rounds),
           "status": out["status"],
           "round_s_mean": round(float(np.mean([r["seconds"] for r in rounds])), 2) if rounds else None,
           "round_s_max": max((r["seconds"] for r in rounds), default=None),
           "up_bytes_per_round": int(sent / max(1, len(rounds))),
           "down_bytes_per_round": adapter_bytes * sites,
           "adapter_bytes": adapter_bytes, "epsilon": out["epsilon"], "sigma": out["sigma"],
           "load_before": load0, "load_after": _load()}
    return row, (fed, out, spec, lora)


def _val_loss(base: Path, adapter_dir: Path | None, vals: list[list[dict]]) -> float:
    from privtune.models.loading import load_local_model
    from privtune.train.evaluate import eval_loss
    from privtune.train.generate import load_adapter

    if adapter_dir is None:
        model, tok = load_local_model(base)
    else:
        model, tok = load_adapter(base, adapter_dir)
    return round(sum(eval_loss(model, tok, v, SEQ) for v in vals) / len(vals), 4)


def utility(ctx: Any, base: Path, *, adapter_dir: Path | None = None, steps: int = ROUNDS,
            label: str = "") -> list[dict]:
    from privtune.dp.config import DPSpec
    from privtune.dp.plan import make_plan
    from privtune.dp.strategy import DPStepStrategy
    from privtune.io import read_jsonl
    from privtune.train.lora import finetune_lora
    from privtune.train.spec import TrainSpec
    from privtune.workspace import Workspace

    fed, out, spec, lora = ctx
    trains, vals = [], []
    for s in fed.sites:
        with Workspace.open(s.workspace, api_key=s.api_key) as ws:
            trains.append(read_jsonl(ws.vault, ws.vault.resolve("trainset")))
            vals.append(read_jsonl(ws.vault, ws.vault.resolve("valset"))[:60])
    rows = [{"model": "base (no fine-tuning)", "val_loss": _val_loss(base, None, vals)}]
    if adapter_dir is not None:
        rows.append({"model": label, "val_loss": _val_loss(base, adapter_dir, vals),
                     "epsilon": round(spec.epsilon_after(steps, out["sigma"]), 3)})
    else:
        with tempfile.TemporaryDirectory() as tmp, \
                Workspace.open(fed.coordinator, api_key=fed.coordinator_key) as ws:
            final = out["rounds"][-1]["adapter"]
            d = ws.vault.get_dir(final, Path(tmp) / "fed")
            rows.append({"model": f"federated, {len(fed.sites)} sites, SecAgg+", "val_loss":
                         _val_loss(base, d, vals)})

    def dp_alone(name: str, train: list[dict]) -> dict:
        ids = [ex.get("employee_ids") or [] for ex in train]
        n_units = len(make_plan(DPSpec(enabled=True, noise_multiplier=1.0, multi_employee="drop",
                                       expected_batch_size=1), ids, 1).units)
        ebs = max(1, round(spec.sampling_rate * n_units))
        dps = DPSpec(enabled=True, noise_multiplier=out["sigma"], multi_employee="drop",
                     expected_batch_size=ebs, max_examples_per_unit=spec.max_examples_per_unit,
                     max_grad_norm=spec.max_grad_norm, accountant="rdp")
        plan = make_plan(dps, ids, steps)
        ts = TrainSpec(steps=steps, batch_size=16, lr=spec.server_lr, warmup_steps=0,
                       schedule="constant", eval_every=0, max_seq_len=spec.max_seq_len, lora=lora)
        with tempfile.TemporaryDirectory() as tmp:
            finetune_lora(base, train, vals[0], ts, Path(tmp) / "a",
                          strategy=DPStepStrategy(plan))
            return {"model": name, "val_loss": _val_loss(base, Path(tmp) / "a", vals),
                    "epsilon": round(plan.epsilon, 3)}

    rows.append(dp_alone("centralised DP on the union", [ex for t in trains for ex in t]))
    for s, t in zip(fed.sites, trains):
        rows.append(dp_alone(f"{s.name} alone (DP)", t))
    return rows


def utility_rounds(root: Path, base: Path, sites: int, rounds: int) -> list[dict]:
    """Utility without Flower's processes: the same rounds the apps run (every site's
    ``site_round``, the coordinator's noisy step, :class:`GlobalAdapter`) in this process,
    ``rounds`` of them, against centralised DP on the union and each site alone (same sigma,
    q, C, steps, learning rate), on the held-out employees of every site."""
    from privtune.federated.plan import FederatedSpec
    from privtune.federated.server import GlobalAdapter, build_lora_model, get_arrays, set_arrays
    from privtune.federated.simulate import prepare
    from privtune.federated.site import site_round
    from privtune.train.spec import LoraSpec

    spec = FederatedSpec(rounds=rounds, secagg=False, max_examples_per_unit=2, max_seq_len=SEQ)
    lora = LoraSpec(r=4, dropout=0.0)
    fed = prepare(root, sites, base_dir=base)
    sigma = spec.sigma()
    model, _ = build_lora_model(base, lora, seed=0)
    g = GlobalAdapter(get_arrays(model), sigma * spec.max_grad_norm, spec.server_lr)
    t0 = time.perf_counter()
    for rnd in range(1, rounds + 1):
        ups = [site_round(s.workspace, "trainset", base, lora, spec, g.arrays(), rnd, "bench",
                          sigma, api_key=s.api_key) for s in fed.sites]
        g.step([sum(a) for a in zip(*[u.arrays for u in ups], strict=True)],
               spec.sampling_rate * sum(u.units for u in ups))
    set_arrays(model, g.arrays())
    seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(str(Path(tmp) / "fed"))
        out = {"sigma": sigma, "rounds": [{"adapter": str(Path(tmp) / "fed")}]}
        rows = utility((fed, out, spec, lora), base, adapter_dir=Path(tmp) / "fed",
                       steps=rounds, label=f"federated, {sites} sites ({rounds} rounds)")
    for r in rows:
        r.update(sites=sites, rounds=rounds, load=_load())
    rows[1]["seconds"] = round(seconds, 1)
    return rows


def utility_repeat(root: Path, base: Path, sites: int, rounds: int, runs: int) -> dict:
    """:func:`utility_rounds`'s contenders ``runs`` times on one prepared federation (the
    same sites, base, sigma, q, C, steps and learning rate; fresh DP sampling and noise each
    run, from the secure randomness): every contender's validation loss per run, and mean and
    sample standard deviation over the runs. The sites' budgets are raised to the maximum
    first, so no site sits a round out for want of budget in a later run."""
    import statistics

    from privtune.dp import ledger
    from privtune.federated.plan import FederatedSpec
    from privtune.federated.server import GlobalAdapter, build_lora_model, get_arrays, set_arrays
    from privtune.federated.simulate import prepare
    from privtune.federated.site import site_round
    from privtune.store.ledger_models import MAX_BUDGET_EPSILON
    from privtune.train.spec import LoraSpec
    from privtune.workspace import Workspace

    spec = FederatedSpec(rounds=rounds, secagg=False, max_examples_per_unit=2, max_seq_len=SEQ)
    lora = LoraSpec(r=4, dropout=0.0)
    fed = prepare(root, sites, base_dir=base)
    for s in fed.sites:
        with Workspace.open(s.workspace, api_key=s.api_key) as ws:
            ledger.set_budget(ws.access.check, ws.store, ws.vault.resolve("trainset"),
                              MAX_BUDGET_EPSILON)
    sigma = spec.sigma()
    per_run: list[dict[str, float]] = []
    loads = [_load()]
    for run in range(runs):
        model, _ = build_lora_model(base, lora, seed=0)
        g = GlobalAdapter(get_arrays(model), sigma * spec.max_grad_norm, spec.server_lr)
        for rnd in range(1, rounds + 1):
            ups = [site_round(s.workspace, "trainset", base, lora, spec, g.arrays(), rnd,
                              f"bench-rep{run}", sigma, api_key=s.api_key) for s in fed.sites]
            assert all(u.admitted for u in ups), "a site sat a round out (budget)"
            g.step([sum(a) for a in zip(*[u.arrays for u in ups], strict=True)],
                   spec.sampling_rate * sum(u.units for u in ups))
        set_arrays(model, g.arrays())
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(str(Path(tmp) / "fed"))
            out = {"sigma": sigma, "rounds": [{"adapter": str(Path(tmp) / "fed")}]}
            rows = utility((fed, out, spec, lora), base, adapter_dir=Path(tmp) / "fed",
                           steps=rounds, label="federated")
        got = {r["model"]: float(r["val_loss"]) for r in rows}
        alone = [v for k, v in got.items() if k.endswith("alone (DP)")]
        got["each site alone (mean of sites)"] = sum(alone) / len(alone)
        per_run.append(got)
        loads.append(_load())
        print(json.dumps({"run": run, **got}), flush=True)
    summary = {}
    for name in per_run[0]:
        vals = [r[name] for r in per_run]
        summary[name] = {"mean": round(statistics.mean(vals), 4),
                         "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else None,
                         "runs": [round(v, 4) for v in vals]}
    return {"sites": sites, "rounds": rounds, "runs": runs, "sigma": sigma,
            "epsilon": round(spec.epsilon_after(rounds, sigma), 3), "loads": loads,
            "summary": summary}


def ddp(root: Path) -> list[dict]:
    from privtune.models.pretrain import TinyBaseSpec, ensure_tiny_base
    from privtune.models.tiny import TinyModelSpec
    from privtune.train.lora import finetune_lora
    from privtune.train.spec import TrainSpec

    model = TinyModelSpec(vocab_size=1024, hidden_size=256, intermediate_size=512,
                          num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=128)
    r = random.Random(3)
    words = ["employees", "managers", "leave", "policy", "request", "review", "salary", "team"]
    texts = [" ".join(r.choice(words) for _ in range(20)) + "." for _ in range(200)]
    base = ensure_tiny_base(texts, TinyBaseSpec(model=model, steps=10, batch_size=8, seq_len=64,
                                                warmup=1), root / "ddpbase")
    data = [{"id": f"x{i}", "kind": "colour", "employee_ids": [], "messages": [
        {"role": "user", "content": f"What is the colour of item {i}?"},
        {"role": "assistant", "content": f"Item {i} is {words[i % len(words)]}."}]}
        for i in range(256)]
    rows = []
    for nproc in (1, 2, 1, 2):
        spec = TrainSpec(steps=12, batch_size=32, warmup_steps=0, eval_every=0, max_seq_len=64,
                         nproc=nproc, lora={"r": 8, "dropout": 0.0})
        load0 = _load()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            res = finetune_lora(base, data, data[:16], spec, Path(tmp) / "a")
        rows.append({"nproc": nproc, "tokens_per_s": res.tokens_per_s,
                     "wall_s": round(time.perf_counter() - t0, 2), "load_before": load0,
                     "load_after": _load(), "params": res.total_params})
    return rows


def write_all(fed_rows: list[dict], util_rows: list[dict], ddp_rows: list[dict]) -> None:
    best = {n: max((r["tokens_per_s"] for r in ddp_rows if r["nproc"] == n), default=0)
            for n in (1, 2)}
    speedup = round(best[2] / best[1], 3) if best[1] else None
    write("federated", {"rounds": ROUNDS, "utility": util_rows, "ddp": ddp_rows,
                        "ddp_speedup_2proc": speedup}, fed_rows,
          ["sites", "secagg", "tls", "rounds", "status", "round_s_mean", "round_s_max",
           "up_bytes_per_round", "down_bytes_per_round", "epsilon", "load_before",
           "load_after"])
    md = Path(__file__).resolve().parent / "results" / "federated.md"
    lines = ["", "## Utility (mean validation loss, held-out employees of every site)", "",
             "| model | val_loss | epsilon |", "|---|---|---|"]
    lines += [f"| {r['model']} | {r['val_loss']} | {r.get('epsilon', '')} |" for r in util_rows]
    lines += ["", "## DDP (plain LoRA, tiny model, 12 steps of 32 examples)", "",
              "| nproc | tokens/s | wall s | load before | load after |", "|---|---|---|---|---|"]
    lines += [f"| {r['nproc']} | {r['tokens_per_s']} | {r['wall_s']} | {r['load_before']} | "
              f"{r['load_after']} |" for r in ddp_rows]
    lines += ["", f"2-process speed-up (best of 2 each): {speedup}", ""]
    md.write_text(md.read_text() + "\n".join(lines))
    print("\n".join(lines))


def append_rows_md(rows: list[dict], title: str) -> None:
    """Append a table of federation rows to bench/results/federated.md (the 3-site table's
    columns)."""
    cols = ["sites", "secagg", "tls", "rounds", "status", "round_s_mean", "round_s_max",
            "up_bytes_per_round", "down_bytes_per_round", "epsilon", "load_before", "load_after"]
    md = Path(__file__).resolve().parent / "results" / "federated.md"
    lines = ["", f"## Federation rows: {title}", "", "| " + " | ".join(cols) + " |",
             "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    md.write_text(md.read_text().rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def main() -> None:
    if sys.argv[1:2] == ["utility"]:  # python bench/federated.py utility [ROUNDS] [SITES...]
        rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
        root = Path(tempfile.mkdtemp(prefix="bench-fedutil-"))
        base = _base(root)
        rows = []
        out = Path(__file__).resolve().parent / "results" / "federated_utility.json"
        for sites in [int(x) for x in sys.argv[3:]] or [3]:
            rows += utility_rounds(root / f"u{sites}", base, sites, rounds)
            out.write_text(json.dumps(rows, indent=2))
        print(json.dumps(rows, indent=2))
        return
    if sys.argv[1:2] == ["repeat"]:  # python bench/federated.py repeat ROUNDS SITES RUNS
        rounds, sites, runs = (int(x) for x in sys.argv[2:5])
        root = Path(tempfile.mkdtemp(prefix="bench-fedrep-"))
        t0 = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        res = utility_repeat(root / "rep", _base(root), sites, rounds, runs)
        res["utc"] = f"{t0}-{time.strftime('%H:%M', time.gmtime())}"
        out = Path(__file__).resolve().parent / "results" / "federated_utility_repeat.json"
        out.write_text(json.dumps(res, indent=2))
        print(json.dumps(res, indent=2))
        return
    if sys.argv[1:2] == ["rows"]:  # python bench/federated.py rows SITES [secagg|plain ...]
        root = Path(tempfile.mkdtemp(prefix="bench-fedrows-"))
        base = _base(root)
        sites = int(sys.argv[2])
        partial = Path(__file__).resolve().parent / "results" / "federated.partial.jsonl"
        rows = []
        t0 = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        for mode in sys.argv[3:] or ["plain", "secagg"]:
            row, _ = federation(root / f"fed-{sites}-{mode}", base, sites, mode == "secagg", True)
            rows.append(row)
            with partial.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(json.dumps(row))
        append_rows_md(rows, f"{sites} sites, TLS on ({t0}-{time.strftime('%H:%M', time.gmtime())}"
                             " UTC, `python bench/federated.py rows "
                             f"{' '.join(sys.argv[2:])}`)")
        return
    if sys.argv[1:] == ["ddp"]:  # only the DDP part; the federation rows from the partial file
        partial = Path(__file__).resolve().parent / "results" / "federated.partial.jsonl"
        rows = [json.loads(x) for x in partial.read_text().splitlines() if x.strip()]
        write_all(rows, [], ddp(Path(tempfile.mkdtemp(prefix="bench-ddp-"))))
        return
    root = Path(tempfile.mkdtemp(prefix="bench-fed-"))
    base = _base(root)
    fed_rows, util_rows = [], []
    configs = [(3, False, True), (3, False, False), (3, True, True)]
    if os.environ.get("FED_SIX") == "1":
        configs.append((6, True, True))
    for sites, secagg, tls in configs:
        row, ctx = federation(root / f"fed-{sites}-{int(secagg)}-{int(tls)}", base, sites, secagg,
                              tls)
        fed_rows.append(row)
        partial = Path(__file__).resolve().parent / "results" / "federated.partial.jsonl"
        with partial.open("a") as fh:  # kept if a later part fails
            fh.write(json.dumps(row) + "\n")
        if sites == 3 and secagg and tls and not util_rows:
            util_rows = utility(ctx, base)
    write_all(fed_rows, util_rows, ddp(root))


if __name__ == "__main__":
    main()
