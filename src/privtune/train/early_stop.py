"""Early stopping on the validation loss: stop after ``patience`` evaluations without an
improvement of more than ``min_delta`` over the best so far (``patience=0`` never stops)."""

from __future__ import annotations

import math
from typing import Any


class EarlyStopping:
    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.bad = 0

    def update(self, val_loss: float) -> bool:
        """Record an evaluation; True when training should stop now."""
        if val_loss < self.best - self.min_delta:
            self.best, self.bad = val_loss, 0
        else:
            self.bad += 1
        return self.patience > 0 and self.bad >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad = float(state["best"]), int(state["bad"])
