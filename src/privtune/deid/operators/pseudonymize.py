"""``pseudonymize``: ``KIND-`` + 10 hex characters of HMAC-SHA256(key, person key).

The hex part depends only on the person (not on ``kind``), so an ``employee_id`` column, a
``manager_id`` column and a mention of the same employee in a ticket all carry the same
token: joins and lineage still work, and nobody without the vault key can link or recompute.
:func:`pseudonym` is the one place a token is computed (the operator, and the privacy audit
mapping training tokens back to raw rows, both call it).
"""

from __future__ import annotations

from typing import Any

from privtune.deid.keys import KeyedHash
from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import PseudonymizeOp

PURPOSE = "pseudonym"


def pseudonym(keyed: KeyedHash, person: object, kind: str = "EMP") -> str:
    """The token of ``person`` (any spelling of it: see :func:`~privtune.deid.keys.person_key`)."""
    return f"{kind}-{keyed.digest(PURPOSE, person).hex()[:10]}"


class Pseudonymize:
    def __init__(self, spec: PseudonymizeOp, env: Env) -> None:
        self.spec = spec
        self.env = env

    def token(self, person: str) -> str:
        return pseudonym(self.env.keyed, person, self.spec.kind)

    def apply(self, value: Any, target: Target) -> Any:
        if value is None or str(value).strip() == "":
            return value
        return self.token(target.person if target.entity is not None and target.person else str(value))
