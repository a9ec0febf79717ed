"""Multi-process data-parallel training (``train.nproc``, torch.distributed over gloo on CPU).

* plain LoRA: 2 processes give the same loss curve as 1 process on the same data order;
* DP-LoRA (test-only reproducible randomness): 2 processes take the same Poisson samples, the
  same noise (drawn once per step by rank 0, not once per rank), the same privacy record and so
  the same curve;
* the sharding helper deals every item to exactly one rank;
* a failing worker fails the run with a TrainingError (no hang, no half-written adapter).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from privtune.dp.config import DPSpec
from privtune.dp.plan import make_plan
from privtune.dp.strategy import DPStepStrategy
from privtune.errors import ConfigError, TrainingError
from privtune.train.distributed import LOCAL, run_parallel, shard
from privtune.train.lora import finetune_lora
from privtune.train.spec import TrainSpec


class _FakeComm:
    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world


def test_shard_deals_every_item_to_exactly_one_rank() -> None:
    items = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4, 4]
    for world in (1, 2, 3, 5):
        parts = [shard(items, _FakeComm(r, world), lambda x: x) for r in range(world)]  # type: ignore[arg-type]
        assert sorted(x for p in parts for x in p) == sorted(items)
        loads = [sum(p) for p in parts]
        assert max(loads) - min(loads) <= max(items)  # balanced up to one item
    assert shard(items, LOCAL) == items


def _spec(**kw: Any) -> TrainSpec:
    base = {"steps": 6, "batch_size": 8, "grad_accum": 2, "warmup_steps": 0, "eval_every": 2,
            "max_seq_len": 64, "lr": 0.02, "lora": {"r": 4, "dropout": 0.0}, "seed": 3}
    base.update(kw)
    return TrainSpec.model_validate(base)


def _history(out: Path) -> list[dict[str, float]]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_follow_the_one_process_loss_curve(tiny_base, colour_data, tmp_path) -> None:
    train, val = colour_data
    one = finetune_lora(tiny_base, train, val, _spec(), tmp_path / "one")
    two = finetune_lora(tiny_base, train, val, _spec(nproc=2), tmp_path / "two")
    h1, h2 = _history(tmp_path / "one"), _history(tmp_path / "two")
    assert [r["step"] for r in h1] == [r["step"] for r in h2]
    for a, b in zip(h1, h2):
        for key in ("train_loss", "val_loss", "grad_norm"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=2e-3, abs=2e-4), (a["step"], key)
    assert h2[-1]["train_loss"] < h2[1]["train_loss"]  # it did learn
    assert two.final_val_loss == pytest.approx(one.final_val_loss, rel=2e-3)
    # rank 0 wrote the adapter; the tokens of both ranks are counted
    assert (tmp_path / "two" / "adapter_model.safetensors").exists()
    assert two.tokens == one.tokens


def _dp_plan(train: list[dict], steps: int):
    ids = [[f"E{i % 24}"] for i in range(len(train))]
    spec = DPSpec(enabled=True, target_epsilon=4.0, accountant="rdp", expected_batch_size=6,
                  max_examples_per_unit=4, insecure_reproducible=True)
    return make_plan(spec, ids, steps), [{**ex, "employee_ids": i} for ex, i in zip(train, ids)]


@pytest.mark.slow
def test_dp_two_processes_same_samples_noise_and_accounting(tiny_base, colour_data, tmp_path) -> None:
    train, val = colour_data
    spec = _spec(grad_accum=1, eval_every=0, steps=5)
    plan, train_ids = _dp_plan(train, spec.steps)
    one = finetune_lora(tiny_base, train_ids, val, spec, tmp_path / "one",
                        strategy=DPStepStrategy(plan))
    plan2, _ = _dp_plan(train, spec.steps)
    two = finetune_lora(tiny_base, train_ids, val, spec.model_copy(update={"nproc": 2}),
                        tmp_path / "two", strategy=DPStepStrategy(plan2))
    # the same accounting: the noise scale and the epsilon do not depend on the processes
    assert plan2.noise_std == plan.noise_std
    assert two.extra["privacy"] == one.extra["privacy"]
    h1, h2 = _history(tmp_path / "one"), _history(tmp_path / "two")
    for a, b in zip(h1[1:], h2[1:]):
        # one Poisson sample per step (rank 0's, broadcast): the same units on both runs
        assert (a["units"], a["clipped"]) == (b["units"], b["clipped"])
        # one noise draw per step: with noise per rank the 2-process norm would be ~sqrt(2) larger
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-3)
        if "train_loss" in a:
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=2e-3)
    assert two.final_val_loss == pytest.approx(one.final_val_loss, rel=2e-3)
    assert math.isfinite(two.final_val_loss)


def _boom(rank_fail: int, comm) -> int:
    if comm.rank == rank_fail:
        raise RuntimeError("worker failure (test)")
    t = torch.ones(3)
    comm.all_reduce_([t])  # the other rank waits here until its peer is gone
    return int(t.sum())


@pytest.mark.slow
def test_run_parallel_sums_and_fails_loudly(monkeypatch) -> None:
    monkeypatch.setattr("privtune.train.distributed.TIMEOUT_S", 20)
    assert run_parallel(2, functools.partial(_boom, -1), functools.partial(_boom, -1)) == 6
    with pytest.raises(TrainingError, match="exit codes"):
        run_parallel(2, functools.partial(_boom, -1), functools.partial(_boom, 1))


def test_nproc_refuses_4bit(tmp_path) -> None:
    spec = _spec(nproc=2, quantization="4bit")
    with pytest.raises(ConfigError, match="nproc"):
        finetune_lora(tmp_path, [], [], spec, tmp_path / "out")
