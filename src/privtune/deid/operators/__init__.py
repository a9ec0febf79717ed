"""One operator per module; :func:`build_operator` turns a validated spec into an operator."""

from __future__ import annotations

from typing import Any

from privtune.deid.operators.base import Env, Operator, Target
from privtune.deid.operators.date_shift import DateShift, offset_days
from privtune.deid.operators.drop import Drop
from privtune.deid.operators.generalize import Generalize
from privtune.deid.operators.keep import Keep
from privtune.deid.operators.mask import Mask, mask_value
from privtune.deid.operators.pseudonymize import Pseudonymize
from privtune.deid.operators.redact import Redact
from privtune.deid.operators.suppress import Suppress
from privtune.deid.operators.surrogate import Surrogate

REGISTRY: dict[str, type] = {
    "drop": Drop, "keep": Keep, "redact": Redact, "mask": Mask, "pseudonymize": Pseudonymize,
    "surrogate": Surrogate, "generalize": Generalize, "date_shift": DateShift, "suppress": Suppress,
}  # fmt: skip


def build_operator(spec: Any, env: Env) -> Operator:
    """The operator for ``spec`` (``text`` is not an operator: the engine handles free text)."""
    return REGISTRY[spec.operator](spec, env)


__all__ = ["REGISTRY", "Env", "Operator", "Target", "build_operator", "mask_value", "offset_days"]
