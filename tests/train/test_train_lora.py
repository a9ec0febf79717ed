"""LoRA fine-tuning: it learns, touches only the adapter, is reproducible and reloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from privtune.models.loading import load_local_model
from privtune.train.evaluate import eval_loss
from privtune.train.generate import generate, load_adapter
from privtune.train.lora import finetune_lora, train_lora
from privtune.train.spec import TrainSpec

pytestmark = pytest.mark.slow  # trains LoRA adapters on a tiny base

SPEC = TrainSpec(steps=60, batch_size=8, lr=1e-2, warmup_steps=3, eval_every=20,
                 max_seq_len=64, seed=0)


@pytest.fixture(scope="module")
def trained(tiny_base: Path, colour_data, tmp_path_factory):
    train, val = colour_data
    model, tok = load_local_model(tiny_base)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = tmp_path_factory.mktemp("adapter")
    calls = []
    result, peft_model = train_lora(model, tok, train, val, SPEC, out,
                                    progress=lambda s, t, m: calls.append((s, t, m)))
    return result, peft_model, before, calls


def test_finetuning_lowers_validation_loss(trained):
    result, _, _, calls = trained
    assert result.final_val_loss < result.initial_val_loss - 1.0
    assert result.steps == SPEC.steps and result.seconds > 0
    assert 0 < result.trainable_params < result.total_params
    evals = [h["step"] for h in result.history if "val_loss" in h]
    assert evals == [0, 20, 40, 60]
    assert [c[0] for c in calls] == list(range(0, SPEC.steps + 1))


def test_only_lora_parameters_change(trained):
    _, peft_model, before, _ = trained
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    base = peft_model.get_base_model()
    after = {k.replace(".base_layer", ""): v for k, v in base.state_dict().items()
             if "lora_" not in k}
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # every adapted projection has its lora_B moved away from its zero init
    lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    names = {n.split(".lora_B")[0].split(".")[-1] for n, _ in peft_model.named_parameters() if "lora_B" in n}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= names
    assert all(p.abs().sum() > 0 for p in lora_b)


def test_outputs_on_disk_hold_numbers_only(trained, colour_data):
    result, _, _, _ = trained
    d = result.adapter_dir
    assert (d / "adapter_config.json").is_file() and (d / "adapter_model.safetensors").is_file()
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert rows == result.history and len(rows) == SPEC.steps + 1
    assert {"step", "train_loss", "lr", "tokens_per_s"} <= rows[5].keys()
    text = (d / "metrics.jsonl").read_text() + json.dumps(result.to_dict())
    assert "colour" not in text and "Item" not in text


def test_adapter_reloads_with_the_same_val_loss(trained, tiny_base, colour_data):
    result, _, _, _ = trained
    model, tok = load_adapter(tiny_base, result.adapter_dir)
    loss = eval_loss(model, tok, colour_data[1], SPEC.max_seq_len, SPEC.eval_batch_size)
    assert loss == pytest.approx(result.final_val_loss, abs=1e-5)
    answer = generate(model, tok, colour_data[1][0]["messages"][:2], max_new_tokens=8)
    assert isinstance(answer, str)
    with model.disable_adapter():
        base_loss = eval_loss(model, tok, colour_data[1], SPEC.max_seq_len, 16)
    assert base_loss == pytest.approx(result.initial_val_loss, abs=1e-5)


def test_same_seed_gives_identical_metrics(tiny_base, colour_data, tmp_path):
    train, val = colour_data
    spec = SPEC.model_copy(update={"steps": 6, "eval_every": 3, "grad_accum": 2,
                                   "schedule": "linear"})
    a = finetune_lora(tiny_base, train, val, spec, tmp_path / "a")
    b = finetune_lora(tiny_base, train, val, spec, tmp_path / "b")
    c = finetune_lora(tiny_base, train, val, spec.model_copy(update={"seed": 1}), tmp_path / "c")

    def losses(r):
        return [(h["step"], h.get("train_loss"), h.get("val_loss"), h["lr"]) for h in r.history]

    assert losses(a) == losses(b)
    assert losses(a) != losses(c)
    assert (tmp_path / "a/adapter_model.safetensors").read_bytes() == (
        tmp_path / "b/adapter_model.safetensors").read_bytes()
