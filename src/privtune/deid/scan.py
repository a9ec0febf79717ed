"""What personal data a table or a set of texts holds: counts, evidence and masked examples.

Examples are *shape masks* (:func:`shape`): letters become ``X``/``x`` and digits ``9``, only
separators survive (``Xxxx Xxxxx``, ``999-99-9999``), so a report can show what a column looks
like without holding any of it. Text examples are the shapes of detected spans only, never
the text around them (which may hold PII the detector missed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from privtune.deid.classify import classify_table, plan_column
from privtune.deid.parallel import chunked_map
from privtune.deid.policy import DeidPolicy
from privtune.pii.detect import detect, iter_detect
from privtune.pii.mapping import PERSON_NAME_ROLES, TableMapping, mapping_for_table
from privtune.pii.roster import Roster
from privtune.pii.spans import ENTITY_TYPES

EXAMPLES_PER_TYPE = 3
MAX_SHAPE = 40


def shape(value: Any) -> str:
    """``"Ana López"`` -> ``"Xxx Xxxxx"``: letters and digits masked, separators kept."""
    s = str(value)[:MAX_SHAPE]
    out = "".join("9" if c.isdigit() else ("X" if c.isupper() else "x") if c.isalpha() else c for c in s)
    return out + ("…" if len(str(value)) > MAX_SHAPE else "")


def _ordered(counter: Mapping[str, int]) -> dict[str, int]:
    return {t: counter[t] for t in ENTITY_TYPES if counter.get(t)} | {
        t: c for t, c in sorted(counter.items()) if t not in ENTITY_TYPES and c}


def table_report(table: pa.Table, policy: DeidPolicy, roster: Roster | None = None,
                 sample: int = 2000, mapping: TableMapping | None = None) -> dict[str, Any]:
    """Per column: role, class, evidence, planned operator, cells, cells with PII (in a sample
    of up to ``sample`` rows), entity counts and one masked example."""
    mapping = mapping_for_table(table, mapping)
    classes = classify_table(table, policy, mapping, roster)
    cols: dict[str, Any] = {}
    step = max(1, table.num_rows // sample)
    idx = list(range(0, table.num_rows, step))[:sample]
    for name in table.column_names:
        values = table.column(name).take(idx).to_pylist() if idx else []
        present = [v for v in values if v is not None and str(v).strip()]
        types: Counter[str] = Counter()
        with_pii = 0
        role = mapping.role(name)
        # A structured column (ethnicity, city, department...) holds no names: the name detector's
        # hits on its short category values are false positives (its role says what it holds).
        no_names = role is not None and role not in (*PERSON_NAME_ROLES, "free_text", "unknown")
        for v in present:
            spans = [s for s in detect(str(v), roster) if not (no_names and s.type == "PERSON")]
            if spans:
                with_pii += 1
                types.update(s.type for s in spans)
        spec: Any = plan_column(policy, name, classes[name], mapping.role(name))
        cols[name] = {
            "role": mapping.role(name), "class": classes[name].kind, "evidence": classes[name].evidence,
            "operator": spec.operator + (f" -> {spec.rename}" if spec.rename else ""),
            "cells_sampled": len(present), "cells_with_pii": with_pii, "types": _ordered(types),
            "example": shape(present[0]) if present else "",
        }  # fmt: skip
    return {"rows": table.num_rows, "sampled_rows": len(idx), "columns": cols}


def _scan_chunk(roster: Roster | None, chunk: Sequence[Mapping[str, Any]]) -> tuple[int, Counter[str], dict[str, list[str]]]:
    types: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    with_pii = 0
    for rec in chunk:
        found = False
        for key, value in rec.items():
            if key == "id" or not isinstance(value, str):
                continue
            for s in iter_detect(value, roster):  # streamed: a 50 MB review stays bounded
                found = True
                types[s.type] += 1
                ex = examples.setdefault(s.type, [])
                if len(ex) < EXAMPLES_PER_TYPE:
                    ex.append(shape(value[s.start : s.end]))
        with_pii += found
    return with_pii, types, examples


def texts_report(records: Sequence[Mapping[str, Any]], roster: Roster | None = None, *,
                 workers: int | None = None, progress: Any = None) -> dict[str, Any]:
    """Records, records with PII, spans per entity type and masked span examples."""
    types: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    with_pii = 0
    for n, t, ex in chunked_map(_scan_chunk, roster, records, workers=workers, progress=progress):
        with_pii += n
        types.update(t)
        for k, v in ex.items():
            examples.setdefault(k, []).extend(v[: EXAMPLES_PER_TYPE - len(examples.get(k, []))])
    return {"records": len(records), "records_with_pii": with_pii, "spans": sum(types.values()),
            "types": _ordered(types), "examples": {t: examples[t] for t in _ordered(types)}}
