"""Helpers for the DP tests: a tiny random Mistral with LoRA (lora_B perturbed) and a naive
per-unit reference (one backward per unit, clip, sum)."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import MistralConfig, MistralForCausalLM

from privtune.train.data import IGNORE_INDEX, Encoded, collate
from privtune.train.loss import labelled_per_sequence_loss


def tiny_lora_mistral(dtype: torch.dtype = torch.float64, seed: int = 0, bias: str = "none",
                      target_modules: str | list[str] = "all-linear"):
    torch.manual_seed(seed)
    cfg = MistralConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                        tie_word_embeddings=True)
    model = MistralForCausalLM(cfg)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                            target_modules=target_modules, bias=bias,
                                            task_type="CAUSAL_LM"))
    with torch.no_grad():  # PEFT starts lora_B at zero, which hides errors in lora_A's grads
        for n, p in peft.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.3)
    peft.to(dtype)
    peft.eval()
    return peft


def random_encoded(n: int, seed: int, vocab: int = 97, lo: int = 5, hi: int = 20) -> list[Encoded]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        t = int(torch.randint(lo, hi + 1, (1,), generator=g))
        ids = torch.randint(3, vocab, (t,), generator=g).tolist()
        start = int(torch.randint(1, t - 1, (1,), generator=g))
        labels = [IGNORE_INDEX] * start + ids[start:]
        out.append(Encoded(ids, labels))
    return out


def example_loss(model, e: Encoded) -> torch.Tensor:
    b = collate([e], 0)
    per_seq, has = labelled_per_sequence_loss(model, b["input_ids"], b["attention_mask"],
                                              b["labels"])
    return (per_seq * has).sum()


def naive_clipped_sum(model, encoded, units: list[list[int]], C: float, loss_fn=example_loss):
    """One backward per unit (its examples' losses summed), clip the unit's gradient, sum."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    norms = []
    for members in units:
        model.zero_grad(set_to_none=True)
        loss = sum(loss_fn(model, encoded[i]) for i in members)
        grads = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        norms.append(float(norm))
        f = min(1.0, C / (float(norm) + 1e-6))
        for t, g in zip(total, grads):
            t.add_(g * f)
    return total, norms


def rel_err(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = torch.sqrt(sum((x - y).pow(2).sum() for x, y in zip(a, b)))
    den = torch.sqrt(sum(y.pow(2).sum() for y in b))
    return float(num / den)


@pytest.fixture()
def lora_model():
    return tiny_lora_mistral()
