"""Checkpoints and exact resume, early stopping, gradient accumulation, metric sinks."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from privtune.errors import ConfigError, InputError
from privtune.train.checkpoint import load_checkpoint
from privtune.train.lora import finetune_lora
from privtune.train.metrics import MlflowLogger
from privtune.train.spec import TrainSpec

pytestmark = pytest.mark.slow  # trains (and resumes) LoRA adapters on a tiny base

SPEC = TrainSpec(steps=12, batch_size=4, grad_accum=2, lr=1e-2, warmup_steps=2, eval_every=4,
                 checkpoint_every=6, max_seq_len=64, seed=5, schedule="cosine")


class Interrupt(Exception):
    pass


def _curve(history):
    return [(h["step"], h.get("train_loss"), h.get("val_loss"), h["lr"]) for h in history]


def test_resume_reproduces_the_uninterrupted_loss_curve(tiny_base, colour_data, tmp_path):
    train, val = colour_data
    full = finetune_lora(tiny_base, train, val, SPEC, tmp_path / "full")
    assert [Path(c).name for c in full.checkpoints] == ["step-6"]

    def crash(step, total, metrics):
        if step == 9:
            raise Interrupt()

    with pytest.raises(Interrupt):
        finetune_lora(tiny_base, train, val, SPEC, tmp_path / "cut", crash)
    ckpt_dir = tmp_path / "cut" / "checkpoints" / "step-6"
    ck = load_checkpoint(ckpt_dir)
    assert ck.step == 6 and len(ck.history) == 7
    resumed = finetune_lora(tiny_base, train, val, SPEC, tmp_path / "resumed", resume=ckpt_dir)
    assert resumed.resumed_from_step == 6 and resumed.steps == 12
    a, b = _curve(full.history), _curve(resumed.history)
    assert [r[0] for r in a] == [r[0] for r in b] == list(range(13))
    for ra, rb in zip(a, b):
        for x, y in zip(ra[1:], rb[1:]):
            assert (x is None and y is None) or x == pytest.approx(y, rel=1e-5, abs=1e-6)
    wa = load_file(str(tmp_path / "full" / "adapter_model.safetensors"))
    wb = load_file(str(tmp_path / "resumed" / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    # the metrics file of the resumed run holds the whole curve
    rows = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert _curve(rows) == b


def test_resume_refuses_other_settings_or_data(tiny_base, colour_data, tmp_path):
    train, val = colour_data
    spec = SPEC.model_copy(update={"steps": 4, "checkpoint_every": 2, "eval_every": 0})
    r = finetune_lora(tiny_base, train, val, spec, tmp_path / "a")
    ck = Path(r.checkpoints[0])
    with pytest.raises(ConfigError, match=r"train\.lr") as err:
        finetune_lora(tiny_base, train, val, spec.model_copy(update={"lr": 2e-2}), tmp_path / "b",
                      resume=ck)
    assert err.value.key == "train.lr"
    with pytest.raises(InputError, match="training data differs"):
        finetune_lora(tiny_base, train[:-3], val, spec, tmp_path / "c", resume=ck)
    with pytest.raises(InputError, match="not a training checkpoint"):
        finetune_lora(tiny_base, train, val, spec, tmp_path / "d", resume=tmp_path / "a")
    # checkpoint_every and eval batch size may change on resume
    ok = finetune_lora(tiny_base, train, val, spec.model_copy(update={"checkpoint_every": 0}),
                       tmp_path / "e", resume=ck)
    assert ok.steps == 4 and ok.resumed_from_step == 2 and ok.checkpoints == []


def test_early_stopping_stops_after_patience(tiny_base, colour_data, tmp_path):
    train, val = colour_data
    spec = TrainSpec(steps=30, batch_size=4, lr=1e-2, warmup_steps=1, eval_every=2,
                     early_stopping_patience=1, early_stopping_min_delta=100.0, max_seq_len=64)
    r = finetune_lora(tiny_base, train, val, spec, tmp_path / "es")
    assert r.stopped_early and r.steps == 4
    assert [h["step"] for h in r.history if "val_loss" in h] == [0, 2, 4]


def test_gradient_accumulation_equals_the_big_batch(tiny_base, colour_data, tmp_path):
    train, val = colour_data
    base = dict(steps=2, lr=1e-2, warmup_steps=1, eval_every=0, max_seq_len=64, seed=2,
                lora={"dropout": 0.0})
    big = finetune_lora(tiny_base, train, val, TrainSpec(batch_size=8, grad_accum=1, **base),
                        tmp_path / "big")
    acc = finetune_lora(tiny_base, train, val, TrainSpec(batch_size=4, grad_accum=2, **base),
                        tmp_path / "acc")
    assert big.history[1]["train_loss"] == pytest.approx(acc.history[1]["train_loss"], abs=1e-5)
    assert big.history[1]["grad_norm"] == pytest.approx(acc.history[1]["grad_norm"], rel=1e-4)
    wa = load_file(str(tmp_path / "big" / "adapter_model.safetensors"))
    wb = load_file(str(tmp_path / "acc" / "adapter_model.safetensors"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_mlflow_sink_uses_a_local_file_store(tiny_base, colour_data, tmp_path, monkeypatch):
    calls: dict[str, list] = {"uri": [], "metrics": [], "params": [], "end": []}
    fake = types.SimpleNamespace(
        set_tracking_uri=lambda u: calls["uri"].append(u),
        set_experiment=lambda e: None,
        start_run=lambda: object(),
        log_params=lambda p: calls["params"].append(p),
        log_metrics=lambda m, step: calls["metrics"].append((step, m)),
        end_run=lambda: calls["end"].append(True),
    )
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    train, val = colour_data
    spec = TrainSpec(steps=3, batch_size=4, warmup_steps=1, eval_every=0, max_seq_len=64)
    logger = MlflowLogger(tmp_path / "mlruns", "privtune", {"train.lr": spec.lr})
    finetune_lora(tiny_base, train, val, spec, tmp_path / "m", loggers=[logger])
    assert calls["uri"] == [(tmp_path / "mlruns").resolve().as_uri()]
    assert calls["uri"][0].startswith("file:")
    assert [s for s, _ in calls["metrics"]] == [0, 1, 2, 3]
    assert "train_loss" in calls["metrics"][1][1] and calls["end"] == [True]
    monkeypatch.setitem(sys.modules, "mlflow", None)
    from privtune.errors import ResourceError

    with pytest.raises(ResourceError, match=r"privtune\[mlflow\]"):
        MlflowLogger(tmp_path / "x", "e", {})
