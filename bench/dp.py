"""DP LoRA fine-tuning on CPU: privtune's per-unit clipping against non-private LoRA and Opacus.

Cost. Same model as bench/train.py (a ~15M-parameter Mistral config with a 32k vocabulary,
random weights), same de-identified examples of the synthetic company, same LoRA (r=8, alpha=16,
all linear projections), max sequence length, optimizer (AdamW), learning rate and number of
steps, at an expected batch of 8 and of 64:

* (a) ``lora``: privtune's non-private step, fixed batches of B examples;
* (b) ``dp-example``: privtune DP-SGD, privacy unit = example, Poisson batches of expected B;
* (c) ``dp-employee``: privtune DP-SGD, unit = employee, expected B employees, at most 4
  examples each (so about 4x the rows of (b): its time is per step, not per example);
* (d) ``opacus-hooks``: Opacus ``make_private`` (per-sample gradients by hooks), Poisson;
* (e) ``opacus-ghost``: Opacus ``make_private(grad_sample_mode="ghost")`` (ghost clipping,
  two backward passes).

Every contender computes the same loss (mean answer-token loss per example, output head applied
at answer positions only, :func:`privtune.train.loss.labelled_per_sequence_loss`) so only the
private-gradient machinery differs; Opacus gets each Poisson batch padded as one batch (its
data loader), privtune cuts batches by length. Each contender runs in a fresh child process with
one thread; step time is the mean over the steps after the first; peak RSS is the child's
``ru_maxrss`` (model load included). DP contenders use noise multiplier 1.0, clip norm 1.0.

Utility (held-out ticket-triage accuracy of the DP recipe against non-private training, by
company size and epsilon) is bench/dp_utility.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

#: Timed steps per expected batch size (plus one warm-up step).
STEPS = {8: int(os.environ.get("PRIVTUNE_BENCH_DP_STEPS_8", "12")),
         64: int(os.environ.get("PRIVTUNE_BENCH_DP_STEPS_64", "4"))}
BATCHES = (8, 64)
SEQ_LEN, LR, SEED, SIGMA, CLIP, CAP = 256, 1e-3, 0, 1.0, 1.0, 4
LORA = {"r": 8, "alpha": 16.0, "dropout": 0.0}
CONTENDERS = ("lora", "dp-example", "dp-employee", "opacus-hooks", "opacus-ghost")
LABELS = {"lora": "(a) non-private LoRA", "dp-example": "(b) privtune DP, unit=example",
          "dp-employee": "(c) privtune DP, unit=employee", "opacus-hooks": "(d) Opacus hooks",
          "opacus-ghost": "(e) Opacus ghost clipping"}


def _setup(model_dir: Path, data: Path):
    from privtune.models.loading import load_local_model
    from privtune.train.data import encode_examples
    from privtune.train.lora import wrap_with_lora
    from privtune.train.spec import LoraSpec

    examples = [json.loads(x) for x in data.read_text().splitlines()]
    model, tok = load_local_model(model_dir)
    enc, _ = encode_examples(tok, examples, SEQ_LEN)
    torch_seed(SEED)
    peft = wrap_with_lora(model, LoraSpec(**LORA))
    peft.train()
    return examples, enc, peft, tok.pad_token_id


def torch_seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _timed(step, n: int) -> tuple[float, list[int]]:
    times, rows = [], []
    for i in range(n + 1):
        t0 = time.perf_counter()
        r = step()
        if i:  # the first step warms up allocators and caches
            times.append(time.perf_counter() - t0)
        rows.append(r)
    return sum(times) / len(times), rows


def run_privtune(which: str, B: int, model_dir: Path, data: Path) -> dict:
    import torch

    from privtune.dp.config import DPSpec
    from privtune.dp.plan import make_plan
    from privtune.dp.session import DPSession, dp_random
    from privtune.train.data import collate
    from privtune.train.hardware import Precision
    from privtune.train.sampler import BatchSampler, split_by_length
    from privtune.train.step import train_step

    examples, enc, model, pad = _setup(model_dir, data)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    prec = Precision("fp32", None, "cpu")
    if which == "lora":
        sampler = BatchSampler([len(e.input_ids) for e in enc], B, SEED)

        def step() -> int:
            idx = sampler.next_batch()
            micro = [collate([enc[idx[k]] for k in part], pad)
                     for part in split_by_length([len(enc[i].input_ids) for i in idx])]
            train_step(model, micro, params, opt, sched, prec, None, CLIP)
            return len(idx)
    else:
        spec = DPSpec(enabled=True, unit=which.split("-")[1], noise_multiplier=SIGMA,
                      max_grad_norm=CLIP, expected_batch_size=B, max_examples_per_unit=CAP,
                      accountant="rdp", delta=1e-6)
        plan = make_plan(spec, [e.get("employee_ids") or [] for e in examples], STEPS[B] + 1)
        # at most B rows per forward, like (a): a larger Poisson batch takes two forwards
        sess = DPSession(plan, model, enc, max(B, CAP), torch.device("cpu"),
                         dp_random(spec, SEED, "cpu"))  # the secure generator, as in training

        def step() -> int:
            return sess.step(opt, sched, prec, pad).rows
    sec, rows = _timed(step, STEPS[B])
    return {"step_s": sec, "rows_per_step": sum(rows) / len(rows)}


def run_opacus(which: str, B: int, model_dir: Path, data: Path) -> dict:
    import warnings

    import torch
    from opacus import PrivacyEngine
    from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

    from privtune.train.data import collate
    from privtune.train.loss import labelled_per_sequence_loss

    warnings.simplefilter("ignore")
    _examples, enc, model, pad = _setup(model_dir, data)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(len(enc))), batch_size=B,
        collate_fn=lambda items: collate([enc[int(i)] for (i,) in items], pad))
    engine = PrivacyEngine(accountant="rdp")
    mode = "ghost" if which == "opacus-ghost" else "hooks"
    kw = {"criterion": torch.nn.CrossEntropyLoss()} if mode == "ghost" else {}
    out = engine.make_private(module=model, optimizer=opt, data_loader=loader,
                              noise_multiplier=SIGMA, max_grad_norm=CLIP, poisson_sampling=True,
                              grad_sample_mode=mode, **kw)
    gsm, dpopt, dl = out[0], out[1], out[-1]
    inner = gsm._module
    it = iter(dl)

    def step() -> int:
        nonlocal it
        try:
            b = next(it)
        except StopIteration:
            it = iter(dl)
            b = next(it)
        if not isinstance(b, dict):  # an empty Poisson batch (Opacus gives empty tensors)
            dpopt.zero_grad()
            return 0
        per_seq, has = labelled_per_sequence_loss(inner, b["input_ids"], b["attention_mask"],
                                                  b["labels"])
        per_seq = per_seq * has
        if mode == "ghost":
            DPTensorFastGradientClipping(gsm, dpopt, per_seq, "mean").backward()
        else:
            per_seq.mean().backward()
        dpopt.step()
        dpopt.zero_grad()
        return int(b["input_ids"].shape[0])
    sec, rows = _timed(step, STEPS[B])
    return {"step_s": sec, "rows_per_step": sum(rows) / len(rows)}


def child(which: str, B: int, model_dir: Path, data: Path, out: Path) -> None:
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false"})
    import torch

    torch.set_num_threads(1)
    fn = run_opacus if which.startswith("opacus") else run_privtune
    r = fn(which, B, model_dir, data)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(r))


def main(repeats: int = 1) -> None:
    import train as trainbench

    load_before = os.getloadavg()
    rows, runs = [], {}
    with tempfile.TemporaryDirectory(prefix="ptbench-dp-") as d:
        model_dir, data = trainbench.prepare(Path(d))
        for B in BATCHES:
            for which in CONTENDERS:
                out = Path(d) / f"{which}-{B}.json"
                subprocess.run([sys.executable, __file__, "--child", which, str(B),
                                str(model_dir), str(data), str(out)], check=True)
                runs[f"{which}-{B}"] = r = json.loads(out.read_text())
                print(f"B={B} {which}: {r['step_s']:.3f} s/step, {r['peak_rss_mb']:.0f} MB")
            base = runs[f"lora-{B}"]
            for which in CONTENDERS:
                r = runs[f"{which}-{B}"]
                rows.append({"expected batch": B, "contender": LABELS[which],
                             "rows/step": round(r["rows_per_step"], 1),
                             "s/step": round(r["step_s"], 3),
                             "time vs (a)": round(r["step_s"] / base["step_s"], 3),
                             "peak RSS MB": round(r["peak_rss_mb"], 1),
                             "RSS vs (a)": round(r["peak_rss_mb"] / base["peak_rss_mb"], 3)})
        load_mid = os.getloadavg()
    write("dp", {"timed_steps": STEPS, "seq_len": SEQ_LEN, "lora": LORA, "noise_multiplier": SIGMA,
                 "max_grad_norm": CLIP, "max_examples_per_unit": CAP, "model": trainbench.MODEL,
                 "threads": 1, "loadavg_before": load_before, "loadavg_mid": load_mid,
                 "loadavg_after": os.getloadavg(), "runs": runs},
          rows, ["expected batch", "contender", "rows/step", "s/step", "time vs (a)",
                 "peak RSS MB", "RSS vs (a)"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=5, metavar=("WHICH", "B", "MODEL", "DATA", "OUT"))
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), Path(a.child[2]), Path(a.child[3]), Path(a.child[4]))
    else:
        main()
