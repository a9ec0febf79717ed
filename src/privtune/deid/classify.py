"""Column classes with evidence, after the policy's per-column overrides.

Evidence names the rule that decided (column-name rule or value-pattern fraction) and, when
a name rule decided, which value patterns match the sampled values and how often. It never
quotes a value.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from privtune.deid.policy import DeidPolicy
from privtune.pii.columns import SAMPLE_SIZE, ColumnClass, classify_column
from privtune.pii.patterns import find_patterns


def _value_summary(sample: list[object]) -> str:
    """``"EMAIL 98%, PHONE 2% of 200"``: which value patterns match whole sampled values."""
    values = [str(v).strip() for v in sample if v is not None and str(v).strip()]
    if not values:
        return ""
    counts: Counter[str] = Counter()
    for v in values:
        if len(v) <= 64:
            counts.update({s.type for s in find_patterns(v) if s.start == 0 and s.end == len(v)})
    if not counts:
        return ""
    parts = ", ".join(f"{t} {c / len(values):.0%}" for t, c in counts.most_common(3))
    return f"{parts} of {len(values)} sampled"


def classify_table(table: pa.Table, policy: DeidPolicy, sample_size: int = SAMPLE_SIZE) -> dict[str, ColumnClass]:
    """``{column: ColumnClass}``; a policy ``class:`` wins and says what it overrode."""
    out: dict[str, ColumnClass] = {}
    n = table.num_rows
    for name in table.column_names:
        # Sample spread over the whole table, not only its head (sorted exports).
        step = max(1, n // sample_size)
        sample = table.column(name).take(list(range(0, n, step))[:sample_size]).to_pylist() if n else []
        found = classify_column(name, sample)
        values = _value_summary(sample)
        if values and "sampled values" not in found.evidence:
            found = ColumnClass(found.kind, f"{found.evidence}; values: {values}")
        override = policy.column_class(name)
        if override is not None and override != found.kind:
            found = ColumnClass(override, f"policy override (detected {found.kind}: {found.evidence})")
        elif override is not None:
            found = ColumnClass(override, f"policy confirms; {found.evidence}")
        out[name] = found
    return out
