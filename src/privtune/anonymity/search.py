"""Minimal generalisation/suppression search for k-anonymity (and distinct l-diversity).

ARX-style full-domain generalisation: every quasi-identifier has a hierarchy (levels 0..h,
:mod:`~privtune.anonymity.hierarchy`); a *node* of the lattice picks one level per QI. At a
node, rows in equivalence classes smaller than ``k`` (or with fewer than ``l`` distinct values
of a sensitive attribute) are suppressed (all their QIs become ``*``). A node is *feasible*
when at most ``max_suppression`` of the rows are suppressed and the suppressed rows, which
form one class of their own (see :mod:`~privtune.anonymity.model`), are none or at least k
(and l-diverse). Among feasible nodes we return
the one with the least information loss:

    loss = (1 - s) * mean_q(level_q / height_q) + s

where ``s`` is the fraction of rows suppressed: the generalisation part is Sweeney's
precision metric (0 = original values, 1 = every QI fully suppressed), and a suppressed row
loses all of its QI information. Ties go to less suppression, then the lower node. The search
is exhaustive (every node is evaluated, vectorised with numpy); lattices larger than
:data:`MAX_NODES` are refused with a ConfigError.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privtune.anonymity.hierarchy import Level, build_levels, infer_hierarchy
from privtune.anonymity.model import SUPPRESSED, Assessment, assess
from privtune.deid.policy import Hierarchy
from privtune.errors import ConfigError, PrivacyPolicyError

MAX_NODES = 50_000


@dataclass
class SearchResult:
    levels: dict[str, int]  # QI -> chosen level (0 = unchanged)
    heights: dict[str, int]
    loss: float
    suppressed: int
    nodes_evaluated: int
    rows: list[dict[str, Any]]  # the generalised rows
    assessment: Assessment

    def as_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "heights": self.heights, "loss": round(self.loss, 6),
                "suppressed": self.suppressed, "nodes_evaluated": self.nodes_evaluated}


def _codes(values: Sequence[Any]) -> np.ndarray:
    _, inv = np.unique(np.array(["\x00" if v is None else str(v) for v in values], dtype=object).astype(str),
                       return_inverse=True)
    return inv.astype(np.int64)


def _combine(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    key = np.zeros(n, dtype=np.int64)
    for col in columns:
        key = key * (int(col.max()) + 1 if col.size else 1) + col
        _, key = np.unique(key, return_inverse=True)
    return key.astype(np.int64)


def _failing_rows(classes: np.ndarray, sens: Sequence[np.ndarray], k: int, l: int) -> np.ndarray:  # noqa: E741
    """Boolean mask of rows whose class is smaller than k or less than l-diverse."""
    counts = np.bincount(classes)
    bad_class = counts < k
    if l > 1:
        for s in sens:
            pairs = np.unique(classes * (int(s.max()) + 1) + s)
            distinct = np.bincount(pairs // (int(s.max()) + 1), minlength=counts.size)
            bad_class |= distinct < l
    return bad_class[classes]


def _suppressed_class_ok(failing: np.ndarray, sens: Sequence[np.ndarray], k: int, l: int) -> bool:  # noqa: E741
    s = int(failing.sum())
    if s == 0:
        return True
    return s >= k and all(np.unique(col[failing]).size >= l for col in sens)


def anonymize(
    rows: Sequence[Mapping[str, Any]],
    quasi_identifiers: Sequence[str],
    *,
    k: int,
    l: int = 1,  # noqa: E741
    sensitive: Sequence[str] = (),
    max_suppression: float = 0.0,
    hierarchies: Mapping[str, Hierarchy] | None = None,
) -> SearchResult:
    """The minimal-loss generalisation of ``rows`` reaching k (and l), or PrivacyPolicyError."""
    n = len(rows)
    qis = list(quasi_identifiers)
    hierarchies = hierarchies or {}
    levels: dict[str, list[Level]] = {}
    for q in qis:
        values = [r.get(q) for r in rows]
        levels[q] = build_levels(hierarchies.get(q) or infer_hierarchy(values), values)
    sizes = [len(levels[q]) for q in qis]
    if math.prod(sizes) > MAX_NODES:
        raise ConfigError(
            f"generalisation lattice has {math.prod(sizes)} nodes (limit {MAX_NODES}): use fewer "
            "quasi-identifiers or fewer hierarchy levels", key="privacy.hierarchies")
    gen = {q: [[lv(r.get(q)) for r in rows] for lv in levels[q]] for q in qis}
    codes = {q: [_codes(col) for col in gen[q]] for q in qis}
    sens = [_codes([r.get(s) for r in rows]) for s in sensitive]
    heights = {q: len(levels[q]) - 1 for q in qis}
    budget = math.floor(max_suppression * n + 1e-9)
    best: tuple[float, int, int, tuple[int, ...]] | None = None
    evaluated = 0
    for node in itertools.product(*(range(s) for s in sizes)):
        evaluated += 1
        if n == 0:
            best = (0.0, 0, 0, node)
            break
        classes = _combine([codes[q][lv] for q, lv in zip(qis, node)], n)
        failing = _failing_rows(classes, sens, k, l)
        s = int(failing.sum())
        if s > budget or not _suppressed_class_ok(failing, sens, k, l):
            continue
        frac = s / n
        gen_loss = sum(lv / heights[q] for q, lv in zip(qis, node) if heights[q]) / max(1, len(qis))
        cand = ((1 - frac) * gen_loss + frac, s, sum(node), node)
        if best is None or cand < best:
            best = cand
    if best is None:
        raise PrivacyPolicyError(
            f"no generalisation of quasi-identifiers {', '.join(qis)} reaches k={k}"
            + (f", l={l}" if l > 1 else "") + f" with at most {max_suppression:.0%} of {n} rows suppressed")
    node = best[3]
    out_rows = []
    classes = _combine([codes[q][lv] for q, lv in zip(qis, node)], n) if n else np.zeros(0, np.int64)
    failing = _failing_rows(classes, sens, k, l) if n else np.zeros(0, bool)
    for i, r in enumerate(rows):
        new = dict(r)
        for q, lv in zip(qis, node):
            v = gen[q][lv][i]
            new[q] = SUPPRESSED if failing[i] else (None if v is None else (v if lv == 0 else str(v)))
            if lv == 0 and not failing[i] and v is not None and not isinstance(v, str):
                new[q] = v
        out_rows.append(new)
    result = assess([[r.get(q) for q in qis] for r in out_rows],
                    {s: [r.get(s) for r in out_rows] for s in sensitive}, qis)
    return SearchResult(dict(zip(qis, node)), heights, best[0], best[1], evaluated, out_rows, result)
