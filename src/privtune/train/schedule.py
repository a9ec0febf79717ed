"""Learning-rate schedules with linear warm-up: cosine (to 0), linear (to 0), constant.

:func:`lr_factor` is the pure multiplier of the peak learning rate at a step; :func:`make_scheduler`
wraps it in a ``LambdaLR`` whose ``state_dict`` is what checkpoints store.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("cosine", "linear", "constant")


def lr_factor(step: int, kind: str, warmup: int, total: int) -> float:
    """Multiplier of the peak LR for the update at 0-based ``step`` of ``total``."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule '{kind}'; allowed: {', '.join(SCHEDULES)}")
    if warmup and step < warmup:
        return (step + 1) / warmup  # never 0: the first update already moves
    if kind == "constant":
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(opt: torch.optim.Optimizer, kind: str, warmup: int,
                   total: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, kind, warmup, total))
