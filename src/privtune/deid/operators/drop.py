"""``drop``: a dropped column disappears from the output; a dropped span leaves nothing."""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import DropOp


class Drop:
    drops_column = True

    def __init__(self, spec: DropOp, env: Env) -> None:
        self.spec = spec

    def apply(self, value: Any, target: Target) -> Any:
        return "" if target.entity is not None else None
