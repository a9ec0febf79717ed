"""``redact``: a placeholder such as ``[PERSON]`` (``[REDACTED]`` for table cells)."""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import RedactOp


class Redact:
    def __init__(self, spec: RedactOp, env: Env) -> None:
        self.spec = spec

    def apply(self, value: Any, target: Target) -> Any:
        if value is None:
            return None
        return self.spec.placeholder.replace("{type}", target.entity or "REDACTED")
