"""``pseudonymize``: ``KIND-`` + 10 hex characters of HMAC-SHA256(key, person key).

The hex part depends only on the person (not on ``kind``), so an ``employee_id`` column, a
``manager_id`` column and a mention of the same employee in a ticket all carry the same
token: joins and lineage still work, and nobody without the vault key can link or recompute.
"""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import PseudonymizeOp


class Pseudonymize:
    def __init__(self, spec: PseudonymizeOp, env: Env) -> None:
        self.spec = spec
        self.env = env

    def token(self, person: str) -> str:
        return f"{self.spec.kind}-{self.env.keyed.digest('pseudonym', person).hex()[:10]}"

    def apply(self, value: Any, target: Target) -> Any:
        if value is None or str(value).strip() == "":
            return value
        return self.token(target.person if target.entity is not None and target.person else str(value))
