"""Count the personal data in a table or a set of texts, without recording any of it.

The reports are plain dicts (JSON-ready) of counts per column and per entity type, plus each
column's class from :func:`~privtune.pii.columns.classify_columns`. They never hold a value,
a span's text or an offset, so they can be stored and shown freely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from privtune.pii.columns import classify_columns
from privtune.pii.detect import detect
from privtune.pii.roster import Roster
from privtune.pii.spans import ENTITY_TYPES


def _ordered(counter: Counter[str]) -> dict[str, int]:
    return {t: counter[t] for t in ENTITY_TYPES if counter[t]}


def scan_table(table: pa.Table, roster: Roster | None = None) -> dict[str, Any]:
    """Per-column class, non-null cells, cells with PII and spans per type; totals per type."""
    classes = classify_columns(table)
    totals: Counter[str] = Counter()
    columns: dict[str, Any] = {}
    for name in table.column_names:
        types: Counter[str] = Counter()
        cells = with_pii = 0
        for value in table.column(name).to_pylist():
            if value is None or str(value).strip() == "":
                continue
            cells += 1
            spans = detect(str(value), roster)
            if spans:
                with_pii += 1
                types.update(s.type for s in spans)
        totals.update(types)
        columns[name] = {
            "class": classes[name].kind,
            "evidence": classes[name].evidence,
            "cells": cells,
            "cells_with_pii": with_pii,
            "types": _ordered(types),
        }
    return {"rows": table.num_rows, "columns": columns, "types": _ordered(totals)}


def scan_texts(
    records: Iterable[Mapping[str, Any]], roster: Roster | None = None, *, field: str = "text"
) -> dict[str, Any]:
    """Records, records with PII, total spans and spans per type over ``record[field]``."""
    totals: Counter[str] = Counter()
    n = with_pii = 0
    for rec in records:
        n += 1
        spans = detect(str(rec.get(field) or ""), roster)
        if spans:
            with_pii += 1
            totals.update(s.type for s in spans)
    return {
        "records": n,
        "records_with_pii": with_pii,
        "spans": sum(totals.values()),
        "types": _ordered(totals),
    }
