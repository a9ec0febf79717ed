"""Batched likelihoods of chat examples under a model: the one number every attack ranks by.

:func:`example_nll` returns, for each example, the summed negative log-likelihood (natural log)
of its assistant tokens and how many tokens that is. Examples are encoded with the training
code's own encoder (same chat template, same answer tokens), sorted by length and scored in
batches, so thousands of short candidates take seconds on the tiny model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from privtune.train.data import IGNORE_INDEX, Encoded, collate, encode_example

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Scores:
    nll: list[float]        # summed NLL (nats) of the assistant tokens, per example
    tokens: list[int]       # assistant tokens per example

    def mean(self) -> list[float]:
        """Per-example mean token loss (the training loss of that example)."""
        return [n / t if t else float("nan") for n, t in zip(self.nll, self.tokens)]

    def bits(self) -> list[float]:
        """Per-example log-perplexity in bits (the Secret Sharer's ``Px``)."""
        return [n / LN2 for n in self.nll]


@torch.no_grad()
def score_encoded(model: Any, encoded: list[Encoded], pad_token_id: int,
                  batch_size: int = 64) -> Scores:
    nll = [0.0] * len(encoded)
    tokens = [0] * len(encoded)
    if not encoded:
        return Scores(nll, tokens)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = {k: v.to(device) for k, v in collate([encoded[i] for i in idx], pad_token_id).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            shift_logits = logits[:, :-1, :].float()
            shift_labels = batch["labels"][:, 1:]
            tok = F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                                  shift_labels.reshape(-1), ignore_index=IGNORE_INDEX,
                                  reduction="none").view(shift_labels.shape)
            mask = shift_labels != IGNORE_INDEX
            sums = (tok * mask).sum(dim=1).tolist()
            counts = mask.sum(dim=1).tolist()
            for j, i in enumerate(idx):
                nll[i], tokens[i] = float(sums[j]), int(counts[j])
    finally:
        model.train(was_training)
    return Scores(nll, tokens)


def example_nll(model: Any, tokenizer: Any, examples: list[dict[str, Any]], *,
                max_seq_len: int = 256, batch_size: int = 64) -> Scores:
    """Summed assistant-token NLL of each chat example (``{"messages": [...]}``)."""
    encoded = [encode_example(tokenizer, ex, max_seq_len, i) for i, ex in enumerate(examples)]
    return score_encoded(model, encoded, tokenizer.pad_token_id, batch_size)


def encode_variants(tokenizer: Any, example: dict[str, Any], secret: str, variants: list[str],
                    max_seq_len: int = 256) -> list[Encoded]:
    """Encodings of ``example`` with its answer's ``secret`` replaced by each of ``variants``
    (any length: the answer's span stretches with it): the conversation is rendered once and
    the candidates are tokenised in one batch call, which makes scoring thousands of candidates
    cheap."""
    from privtune.train.data import assistant_char_spans, check_example

    msgs = check_example(example)
    text, spans = assistant_char_spans(tokenizer, msgs)
    a, b = spans[-1]
    at = text.find(secret, a, b)
    if at < 0:
        raise ValueError("the secret is not in the example's answer")
    texts, all_spans = [], []
    for v in variants:
        d = len(v) - len(secret)
        texts.append(text[:at] + v + text[at + len(secret):])
        all_spans.append([(s0 if s0 <= at else s0 + d, e0 if e0 <= at else e0 + d)
                          for s0, e0 in spans])
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for ids, offsets, sp in zip(enc["input_ids"], enc["offset_mapping"], all_spans):
        labels = [tid if any(s0 <= s < e0 for s0, e0 in sp) else IGNORE_INDEX
                  for tid, (s, _e) in zip(ids, offsets)]
        out.append(Encoded(list(ids)[:max_seq_len], labels[:max_seq_len]))
    return out
