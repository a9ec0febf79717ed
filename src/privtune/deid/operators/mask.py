"""``mask``: letters and digits become ``char`` except the first/last N (``***-**-6789``).

Separators stay, so the shape of the value is visible and nothing else is.
"""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import MaskOp


def mask_value(text: str, keep_first: int, keep_last: int, char: str) -> str:
    alnum = [i for i, c in enumerate(text) if c.isalnum()]
    # Never reveal more than half of the characters, whatever the spec says.
    budget = len(alnum) // 2
    first = min(keep_first, budget)
    last = min(keep_last, budget - first)
    shown = set(alnum[:first]) | set(alnum[len(alnum) - last:] if last else [])
    return "".join(c if (i in shown or not c.isalnum()) else char for i, c in enumerate(text))


class Mask:
    def __init__(self, spec: MaskOp, env: Env) -> None:
        self.spec = spec

    def apply(self, value: Any, target: Target) -> Any:
        if value is None:
            return None
        return mask_value(str(value), self.spec.keep_first, self.spec.keep_last, self.spec.char)
