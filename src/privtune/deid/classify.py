"""Column classes with evidence, from the schema mapping, the values and the text detector,
after the policy's per-column overrides; and the operator each column gets.

Order of evidence for one column:

1. its role in the schema mapping (:mod:`privtune.pii.mapping`) gives the class; a column the
   mapping cannot place has the role ``unknown`` and is sensitive free text (fail safe);
2. a sample whose values mostly *are* e-mails, phones, SSNs, IBANs or employee ids makes the
   column a direct identifier whatever its role says;
3. the policy's ``class:`` for the column (or for its role) overrides;
4. every column whose plan would keep it raw (or part of it: :func:`keeps_raw_text`) is scanned with the text detector (each distinct
   value, up to :data:`MAX_DISTINCT`); a column with any detected identifier is never kept raw:
   it is scrubbed as free text whatever the policy says (``ColumnClass.scrub``). A column with
   more distinct values than that is scrubbed without looking.

Evidence names the role, the rule and the entity types found, never a value.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from privtune.deid.policy import DeidPolicy, TextOp
from privtune.pii.columns import DIRECT, FREE_TEXT, SAMPLE_SIZE, ColumnClass, classify_column
from privtune.pii.detect import detect
from privtune.pii.mapping import ROLE_CLASS, TableMapping, mapping_for_table
from privtune.pii.patterns import find_patterns
from privtune.pii.roster import Roster

#: Above this many distinct values a column that would be kept raw is scrubbed unscanned.
MAX_DISTINCT = 5000
#: Entity types that do not make a kept column personal on their own (a date is a date).
NOT_IDENTIFYING = frozenset({"DATE"})


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


def keeps_raw_text(spec: Any) -> bool:
    """True for an operator whose output keeps (part of) the raw text: ``keep``, a ``mask``
    that keeps characters, a ``generalize`` by prefix."""
    op = getattr(spec, "operator", None)
    if op == "keep":
        return True
    if op == "mask":
        return bool(spec.keep_first or spec.keep_last)
    return op == "generalize" and spec.method == "prefix"


def plan_column(policy: DeidPolicy, column: str, cls: ColumnClass, role: str | None = None) -> Any:
    """The operator spec for ``column``: scrubbed text when the detector found identifiers in
    it, else the policy's rule for the column (or its role), else its class default."""
    if cls.scrub:
        return TextOp(operator="text")
    return policy.column_op(column, cls.kind, role)


def classify_table(table: pa.Table, policy: DeidPolicy, mapping: TableMapping | None = None,
                   roster: Roster | None = None, sample_size: int = SAMPLE_SIZE) -> dict[str, ColumnClass]:
    """``{column: ColumnClass}``; see the module docstring for the order of evidence."""
    mapping = mapping_for_table(table, mapping)
    out: dict[str, ColumnClass] = {}
    n = table.num_rows
    for name in table.column_names:
        # Sample spread over the whole table, not only its head (sorted exports).
        step = max(1, n // sample_size)
        sample = table.column(name).take(list(range(0, n, step))[:sample_size]).to_pylist() if n else []
        role = mapping.role(name) or "unknown"
        by_values = classify_column(name, sample)
        if by_values.kind == DIRECT and "sampled values are" in by_values.evidence:
            found = by_values
        else:
            c = mapping.columns[name]
            found = ColumnClass(ROLE_CLASS[role], f"schema mapping: role {role} "
                                                  f"(confidence {c.confidence:.2f}: {c.evidence})")
        values = _value_summary(sample)
        if values and "sampled values" not in found.evidence:
            found = ColumnClass(found.kind, f"{found.evidence}; values: {values}")
        override = policy.column_class(name, role)
        if override is not None and override != found.kind:
            found = ColumnClass(override, f"policy override (detected {found.kind}: {found.evidence})")
        elif override is not None:
            found = ColumnClass(override, f"policy confirms; {found.evidence}")
        spec = plan_column(policy, name, found, role)
        if keeps_raw_text(spec):
            # A direct-identifier column (a phone masked to its last digits) is judged on what
            # the mask leaves; any other column on its whole value (a partly masked remark
            # holding an SSN is scrubbed).
            found = _scan_kept(table.column(name), found, roster,
                               spec if found.kind == DIRECT else None)
        out[name] = found
    return out


def kept_part(spec: Any, value: str) -> str:
    """The raw characters ``spec`` keeps of ``value``: all of it for ``keep``, the ends a
    ``mask`` leaves (``***-**-5122`` keeps ``5122``), the first ``width`` for a prefix."""
    op = getattr(spec, "operator", None)
    if op == "mask" and (spec.keep_first or spec.keep_last):
        head = value[:spec.keep_first] if spec.keep_first else ""
        tail = value[-spec.keep_last:] if spec.keep_last else ""
        return f"{head} {tail}".strip()
    if op == "generalize":
        return value[:spec.width]
    return value


def _scan_kept(column: pa.ChunkedArray, found: ColumnClass, roster: Roster | None,
               spec: Any) -> ColumnClass:
    """``found``, or a scrubbed free-text class when the detector finds an identifier in what
    ``spec`` would keep raw of any distinct value (the whole value for ``keep``; the ends a
    partial mask leaves)."""
    distinct = pc.unique(column.drop_null()).to_pylist()
    if len(distinct) > MAX_DISTINCT:
        return ColumnClass(FREE_TEXT, f"{len(distinct)} distinct values, too many to scan before "
                                      f"keeping raw: scrubbed as free text ({found.evidence})", scrub=True)
    types: Counter[str] = Counter()
    hits = 0
    for v in distinct:
        spans = [s for s in detect(kept_part(spec, str(v)), roster) if s.type not in NOT_IDENTIFYING]
        if spans:
            hits += 1
            types.update(s.type for s in spans)
    if not hits:
        return found
    kinds = ", ".join(sorted(types))
    return ColumnClass(FREE_TEXT, f"text detector found {kinds} in {hits} of {len(distinct)} distinct "
                                  f"values: never kept raw, scrubbed as free text (was {found.kind}: "
                                  f"{found.evidence})", scrub=True)
