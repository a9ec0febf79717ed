"""Rank classification: which of a fixed set of answers a causal LM finds most likely.

For a conversation whose last turn is the user's (a ticket to triage) and ``choices`` (the
assistant answers of every category, e.g. ``"Category: payroll"``), the model scores each
choice by the log-likelihood of its answer tokens (the answer text and the closing ``</s>``,
the tokens :func:`privtune.train.data.encode_example` labels) and the prediction is the best
one. Unlike exact-match generation this measures what the model has learned even when its
greedy answer is not yet word-perfect, and chance is ``1 / len(choices)``.
Only numbers come out; texts never leave memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from privtune.train.data import collate, encode_example
from privtune.train.loss import labelled_per_sequence_loss


def answer_of(example: Mapping[str, Any]) -> str:
    """The example's (last) assistant answer."""
    return str([m for m in example["messages"] if m["role"] == "assistant"][-1]["content"])


def prompt_of(example: Mapping[str, Any]) -> list[dict[str, str]]:
    """The example's messages up to (without) its last assistant answer."""
    msgs = list(example["messages"])
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    return [dict(m) for m in msgs[:last]]


@torch.no_grad()
def choice_scores(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]],
                  choices: Sequence[str], max_seq_len: int = 256,
                  batch_size: int = 64) -> torch.Tensor:
    """``(len(prompts), len(choices))`` summed log-likelihoods of each choice as the answer."""
    if not choices:
        raise ValueError("rank classification needs at least one choice")
    encoded = [encode_example(tokenizer, {"messages": [*p, {"role": "assistant", "content": c}]},
                              max_seq_len)
               for p in prompts for c in choices]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.empty(len(encoded))
    try:
        for i in range(0, len(encoded), batch_size):
            part = encoded[i:i + batch_size]
            batch = {k: v.to(device) for k, v in collate(part, tokenizer.pad_token_id).items()}
            mean, _has = labelled_per_sequence_loss(model, batch["input_ids"],
                                                    batch["attention_mask"], batch["labels"])
            counts = torch.tensor([e.n_labels for e in part], dtype=torch.float32)
            out[i:i + len(part)] = -mean.float().cpu() * counts
    finally:
        model.train(was_training)
    return out.view(len(prompts), len(choices))


def rank_accuracy(model: Any, tokenizer: Any, examples: Sequence[Mapping[str, Any]],
                  choices: Sequence[str], max_seq_len: int = 256) -> float:
    """Share of ``examples`` whose own answer scores highest among ``choices`` (nan if none)."""
    if not examples:
        return float("nan")
    index = {c: k for k, c in enumerate(choices)}
    want = torch.tensor([index[answer_of(ex)] for ex in examples])
    scores = choice_scores(model, tokenizer, [prompt_of(ex) for ex in examples], choices,
                           max_seq_len)
    return float((scores.argmax(dim=1) == want).float().mean())
