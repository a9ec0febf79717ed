"""``suppress``: the cell becomes null; a span in text is removed."""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import SuppressOp


class Suppress:
    def __init__(self, spec: SuppressOp, env: Env) -> None:
        self.spec = spec

    def apply(self, value: Any, target: Target) -> Any:
        return "" if target.entity is not None else None
