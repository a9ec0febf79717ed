"""The privacy gate: data that misses the policy's k (or l) is refused, naming columns and
class counts (never values). The de-identification stage records its verdict in the vault
object's metadata; :func:`require_anonymous` checks it before training data is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from privtune.anonymity.model import Assessment
from privtune.errors import PrivacyPolicyError

META_KEY = "privacy"


def verdict(a: Assessment, k: int, l: int = 1) -> dict[str, Any]:  # noqa: E741
    """A JSON-ready verdict: targets, achieved values, failing classes, ok."""
    small_classes, small_rows = a.classes_below(k) if a.classes else (0, 0)
    failing_l = sorted(name for name, got in a.l_by_attribute.items() if got < l)
    ok = (a.k >= k or (a.classes == 0 and a.rows == 0)) and not failing_l
    return {"ok": ok, "k_target": k, "l_target": l, "k": a.k, "l_by_attribute": dict(a.l_by_attribute),
            "classes_below_k": small_classes, "rows_in_classes_below_k": small_rows,
            "failing_l": failing_l, "quasi_identifiers": list(a.quasi_identifiers),
            "classes": a.classes, "suppressed": a.suppressed, "rows": a.rows,
            "max_risk": round(a.max_risk, 6), "avg_risk": round(a.avg_risk, 6)}


def enforce(v: Mapping[str, Any], what: str = "data") -> None:
    """Raise :class:`PrivacyPolicyError` (exit 8) unless the verdict is ok."""
    if v.get("ok"):
        return
    parts = []
    if v["k"] < v["k_target"]:
        parts.append(
            f"k-anonymity k={v['k_target']} not met on quasi-identifiers "
            f"[{', '.join(v['quasi_identifiers'])}]: {v['classes_below_k']} of {v['classes']} "
            f"equivalence classes ({v['rows_in_classes_below_k']} rows) are smaller than "
            f"{v['k_target']}, the smallest has {v['k']} row(s)")
    if v["failing_l"]:
        got = ", ".join(f"{c} (l={v['l_by_attribute'][c]})" for c in v["failing_l"])
        parts.append(f"l-diversity l={v['l_target']} not met for sensitive columns {got}")
    raise PrivacyPolicyError(f"{what} refused for training: " + "; ".join(parts))


def require_anonymous(meta: Mapping[str, Any], what: str) -> None:
    """Refuse an object whose recorded privacy verdict is missing or failing."""
    v = meta.get(META_KEY)
    if not isinstance(v, Mapping):
        raise PrivacyPolicyError(
            f"{what} has no privacy-model verdict: de-identify it with `privtune deidentify` first")
    enforce(v, what)
