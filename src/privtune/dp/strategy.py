"""DP-SGD as a step strategy of the training loop (:class:`privtune.train.strategy.StepStrategy`).

:class:`DPStepStrategy` is built from a :class:`~privtune.dp.plan.DPPlan` by whoever wires DP
in (the train stage, a benchmark, a test) and handed to :func:`privtune.train.lora.train_lora`
/ :func:`~privtune.train.lora.finetune_lora`. On :meth:`~DPStepStrategy.prepare` it refuses
settings DP cannot run with (:func:`~privtune.dp.session.check_compatible`) and opens a
:class:`~privtune.dp.session.DPSession`: Poisson batches of privacy units, per-unit clipping and
noise take the place of the plain batch sampler and step. Each step logs ``units`` (sampled)
and ``clipped``; the run's ``privacy`` block is :meth:`DPPlan.record` at the steps taken.
``seeded`` is False (secure randomness: the loop writes no seed and no generator state) unless
``dp.insecure_reproducible``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from privtune.dp.plan import DPPlan
from privtune.dp.session import DPSession, check_compatible, dp_random
from privtune.train.strategy import StepContext, StepOutcome


class DPStepStrategy:
    def __init__(self, plan: DPPlan) -> None:
        self.plan = plan
        self._ctx: StepContext | None = None
        self._session: DPSession | None = None
        self.seeded = plan.spec.insecure_reproducible
        #: DP steps this process completed (noise drawn and applied), and whether it carried on
        #: from a checkpoint: what :meth:`spent_epsilon` charges a run that stops early.
        self.steps_taken = 0
        self.resumed = False

    def prepare(self, ctx: StepContext) -> None:
        check_compatible(ctx.spec, ctx.precision, ctx.quantized)
        self._ctx = ctx
        rng = dp_random(self.plan.spec, ctx.spec.seed, ctx.device)
        self._session = DPSession(self.plan, ctx.model, ctx.encoded, ctx.spec.batch_size,
                                  ctx.device, rng, ctx.comm)

    def _ready(self) -> tuple[StepContext, DPSession]:
        if self._ctx is None or self._session is None:
            raise RuntimeError("DPStepStrategy.prepare() was not called")
        return self._ctx, self._session

    def step(self, opt: torch.optim.Optimizer, sched: LRScheduler) -> StepOutcome:
        ctx, session = self._ready()
        s = session.step(opt, sched, ctx.precision, ctx.pad_id)
        self.steps_taken += 1
        return StepOutcome(s.loss if s.rows else None, s.tokens, s.grad_norm,
                           {"units": s.units, "clipped": s.clipped})

    def state_dict(self) -> dict[str, Any]:
        return self._ready()[1].state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._ready()[1].load_state_dict(state)
        self.resumed = True

    def spent_epsilon(self) -> float | None:
        """The person-level epsilon of what a run that stopped before its last step (an error,
        Ctrl-C) spent: the accountant's figure for the DP steps it completed, since anything it
        left behind (a checkpoint, the metrics) is a function of those noised steps only; 0
        before the first step. None (keep the planned charge) for a run resumed from a
        checkpoint, whose earlier steps were taken by another process."""
        if self.resumed:
            return None
        if self.steps_taken == 0:
            return 0.0
        return float(self.plan.epsilon_person_after(self.steps_taken))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def privacy(self, steps: int) -> dict[str, Any]:
        return self.plan.record(steps)
