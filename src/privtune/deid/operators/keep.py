"""``keep``: the value passes unchanged."""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import KeepOp


class Keep:
    def __init__(self, spec: KeepOp, env: Env) -> None:
        self.spec = spec

    def apply(self, value: Any, target: Target) -> Any:
        return value
