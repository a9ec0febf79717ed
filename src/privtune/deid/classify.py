"""Column classes with evidence, after the policy's per-column overrides."""

from __future__ import annotations

import pyarrow as pa

from privtune.deid.policy import DeidPolicy
from privtune.pii.columns import SAMPLE_SIZE, ColumnClass, classify_column


def classify_table(table: pa.Table, policy: DeidPolicy, sample_size: int = SAMPLE_SIZE) -> dict[str, ColumnClass]:
    """``{column: ColumnClass}``; a policy ``class:`` wins and says what it overrode."""
    out: dict[str, ColumnClass] = {}
    n = table.num_rows
    for name in table.column_names:
        # Sample spread over the whole table, not only its head (sorted exports).
        step = max(1, n // sample_size)
        sample = table.column(name).take(list(range(0, n, step))[:sample_size]).to_pylist() if n else []
        found = classify_column(name, sample)
        override = policy.column_class(name)
        if override is not None and override != found.kind:
            found = ColumnClass(override, f"policy override (detected {found.kind}: {found.evidence})")
        elif override is not None:
            found = ColumnClass(override, f"policy confirms; {found.evidence}")
        out[name] = found
    return out
