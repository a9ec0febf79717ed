"""The plug point of the training loop: a step strategy takes one optimizer step at a time.

The loop (:func:`privtune.train.loop.run_loop`) owns the optimizer, the schedule, evaluation,
early stopping, checkpoints and metrics. A :class:`StepStrategy` owns what differs between kinds
of training: which examples a step sees (and that choice's resumable state), how their gradient
becomes an update, the extra numbers a step logs and the privacy record of the run. The plain
LoRA step (:class:`privtune.train.step.PlainStep`) is the default; differentially private
training plugs in :class:`privtune.dp.strategy.DPStepStrategy` (train never imports dp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch.optim.lr_scheduler import LRScheduler

from privtune.train.data import Encoded
from privtune.train.distributed import LOCAL, Comm
from privtune.train.hardware import Precision
from privtune.train.spec import TrainSpec


@dataclass(frozen=True)
class StepContext:
    """What the loop hands a strategy once the model is wrapped, on its device."""

    model: torch.nn.Module
    params: list[torch.nn.Parameter]  # the trainable (LoRA) parameters
    encoded: list[Encoded]  # the training examples
    spec: TrainSpec
    device: torch.device
    precision: Precision
    pad_id: int
    scaler: torch.amp.GradScaler | None  # with fp16 autocast only
    quantized: bool
    #: the process group (``train.nproc``): every rank runs the strategy on the same batch
    #: and does its share (:mod:`privtune.train.distributed`); one process: ``LOCAL``
    comm: Comm = LOCAL


@dataclass(frozen=True)
class StepOutcome:
    """The numbers of one step (never texts)."""

    loss: float | None  # None: the step saw no example (an empty Poisson batch), noise only
    tokens: int  # real (non-padding) tokens processed
    grad_norm: float  # norm of the gradient that was applied
    extra: dict[str, float] = field(default_factory=dict)  # logged after ``grad_norm``


class StepStrategy(Protocol):
    #: True: the run's randomness may come from ``train.seed`` and checkpoints may store RNG
    #: states (plain training, DP tests). False (DP with secure randomness): the loop seeds
    #: from the OS and writes no seed and no generator state anywhere.
    seeded: bool

    def prepare(self, ctx: StepContext) -> None:
        """Set up before the first step; refuse (ConfigError) settings it cannot run with."""

    def step(self, opt: torch.optim.Optimizer, sched: LRScheduler) -> StepOutcome:
        """Take one optimizer step (and one scheduler step)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to continue (stored as the ``sampler`` state); must hold no
        generator state when ``seeded`` is False."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Release what :meth:`prepare` attached (hooks); called even when training fails."""

    def privacy(self, steps: int) -> dict[str, Any] | None:
        """The run's ``privacy`` block after ``steps`` steps, or None (not private)."""
