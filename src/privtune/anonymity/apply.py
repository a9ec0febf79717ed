"""Bring a de-identified person table to the policy's privacy model, or say why not.

Quasi-identifiers and sensitive attributes are the policy's lists (output column names) or,
when it lists none, the output columns whose input column is classed as such. With
``search: true`` the table is generalised/suppressed by :func:`~privtune.anonymity.search.anonymize`
when it misses k or l; the verdict (counts only) says whether the result passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from privtune.anonymity.gate import verdict as make_verdict
from privtune.anonymity.model import assess_table
from privtune.anonymity.search import anonymize
from privtune.deid.policy import PrivacyModel
from privtune.errors import ConfigError, PrivacyPolicyError
from privtune.pii.columns import ColumnClass


@dataclass
class Protected:
    table: pa.Table
    verdict: dict[str, Any]
    before: dict[str, Any]  # the assessment before the search
    search: dict[str, Any] | None
    class_sizes: dict[str, int]


def columns_of(kind: str, classes: dict[str, ColumnClass], renames: dict[str, str], present: list[str]) -> list[str]:
    return [renames.get(c, c) for c, cls in classes.items() if cls.kind == kind and renames.get(c, c) in present]


def protect(table: pa.Table, classes: dict[str, ColumnClass], renames: dict[str, str],
            model: PrivacyModel) -> Protected:
    present = table.column_names
    qis = model.quasi_identifiers if model.quasi_identifiers is not None else columns_of(
        "quasi_identifier", classes, renames, present)
    sens = model.sensitive if model.sensitive is not None else columns_of("sensitive", classes, renames, present)
    for key, cols in (("privacy.quasi_identifiers", qis), ("privacy.sensitive", sens)):
        missing = [c for c in cols if c not in present]
        if missing:
            raise ConfigError(f"policy {key} names columns missing from the de-identified table: "
                              f"{', '.join(missing)}; present: {', '.join(present)}", key=key)
    rows = table.to_pylist()
    before = assess_table(rows, qis, sens)
    v = make_verdict(before, model.k, model.l)
    search = None
    if not v["ok"] and model.search and qis:
        try:
            res = anonymize(rows, qis, k=model.k, l=model.l, sensitive=sens,
                            max_suppression=model.max_suppression, hierarchies=model.hierarchies)
        except PrivacyPolicyError:
            res = None
        if res is not None:
            search = res.as_dict()
            rows = res.rows
            table = _rebuild(table, rows, qis)
            v = make_verdict(res.assessment, model.k, model.l)
            before_d = before.as_dict()
            return Protected(table, v, before_d, search, res.assessment.as_dict()["class_sizes"])
    return Protected(table, v, before.as_dict(), search, before.as_dict()["class_sizes"])


def _rebuild(table: pa.Table, rows: list[dict[str, Any]], changed: list[str]) -> pa.Table:
    cols = {}
    for name in table.column_names:
        if name in changed:
            cols[name] = pa.array([None if r[name] is None else str(r[name]) for r in rows], pa.string())
        else:
            cols[name] = table.column(name)
    return pa.table(cols)
