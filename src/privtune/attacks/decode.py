"""Batched generation for the attacks: many prompts, greedy and sampled, left-padded batches.

Prompts are conversations rendered with the tokenizer's chat template (generation prompt on);
each answer is the decoded new tokens. Sampling is seeded, so an audit is reproducible.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import GenerationConfig


@torch.no_grad()
def generate_many(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]], *,
                  max_new_tokens: int = 24, greedy: bool = True, temperature: float = 1.0,
                  seed: int = 0, batch_size: int = 32) -> list[str]:
    """One answer per conversation, in order."""
    if not conversations:
        return []
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
             for c in conversations]
    device = next(model.parameters()).device
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=not greedy,
        temperature=None if greedy else temperature, top_p=None, top_k=None,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    side = tokenizer.padding_side
    was_training = model.training
    model.eval()
    out: list[str] = [""] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    try:
        tokenizer.padding_side = "left"
        if not greedy:
            torch.manual_seed(seed)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], add_special_tokens=False, padding=True,
                            return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            gen = model.generate(**enc, generation_config=config)
            new = gen[:, enc["input_ids"].shape[1]:]
            for j, i in enumerate(idx):
                out[i] = tokenizer.decode(new[j], skip_special_tokens=True).strip()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return out
