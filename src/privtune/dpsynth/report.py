"""The utility and privacy report of a synthetic table: aggregate figures only, no row.

The synthesiser is fitted on one half of the people (``train``); the other half (``holdout``)
never reaches it. Utility compares the synthetic table with ``train`` against a **fresh real
sample** baseline: how far the held-out half (real people, same population, the same size) is
from ``train``. A synthetic table as close as a fresh real sample is as useful as one can ask.

* marginals: the mean total variation distance (TVD) over every 1-, 2- and 3-way marginal;
* correlations: Cramér's V between every pair of columns, real and synthetic side by side;
* downstream: a categorical naive Bayes predicting a target column (the performance rating,
  else the last column) from the others, trained on synthetic (or on ``train``) and tested on
  the held-out half; the majority class as the floor;
* privacy: the Hamming distance to the closest ``train`` record (DCR) of synthetic records
  versus of held-out records (real-to-real); the exact-match rate of ``train``'s rare
  combinations (full records unique in ``train``) in the synthetic table versus the rate for
  held-out unique records (chance: the synthesiser never saw them); a membership-inference
  attack scoring each real record by its closeness to the synthetic table (AUC, ``train`` as
  members, held-out as non-members; 0.5 is chance).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_THREE_WAY = 400  # 3-way marginals averaged over at most this many (every one below it)
CHUNK = 512


def _keys(data: np.ndarray, cols: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    return np.ravel_multi_index(tuple(data[:, c] for c in cols), tuple(shape[c] for c in cols))


def tvd(a: np.ndarray, b: np.ndarray, cols: Sequence[int], shape: Sequence[int]) -> float:
    size = int(np.prod([shape[c] for c in cols]))
    pa = np.bincount(_keys(a, cols, shape), minlength=size) / max(1, len(a))
    pb = np.bincount(_keys(b, cols, shape), minlength=size) / max(1, len(b))
    return float(0.5 * np.abs(pa - pb).sum())


def workload(d: int, k: int) -> list[tuple[int, ...]]:
    combos = list(itertools.combinations(range(d), k))
    if len(combos) > MAX_THREE_WAY:  # an even, deterministic subset
        step = len(combos) / MAX_THREE_WAY
        combos = [combos[int(i * step)] for i in range(MAX_THREE_WAY)]
    return combos


def mean_tvd(a: np.ndarray, b: np.ndarray, shape: Sequence[int], k: int) -> float:
    combos = workload(a.shape[1], k)
    return float(np.mean([tvd(a, b, c, shape) for c in combos])) if combos else 0.0


def cramers_v(data: np.ndarray, i: int, j: int, shape: Sequence[int]) -> float:
    table = np.bincount(_keys(data, (i, j), shape), minlength=shape[i] * shape[j])
    table = table.reshape(shape[i], shape[j]).astype(np.float64)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return 0.0
    expected = np.outer(table.sum(1), table.sum(0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def correlations(data: np.ndarray, shape: Sequence[int]) -> list[list[float]]:
    d = data.shape[1]
    m = [[1.0] * d for _ in range(d)]
    for i, j in itertools.combinations(range(d), 2):
        m[i][j] = m[j][i] = round(cramers_v(data, i, j, shape), 4)
    return m


def naive_bayes_accuracy(train: np.ndarray, test: np.ndarray, target: int,
                         shape: Sequence[int]) -> float:
    """Categorical naive Bayes (Laplace smoothing) predicting column ``target``."""
    k = shape[target]
    prior = np.log(np.bincount(train[:, target], minlength=k) + 1.0)
    score = np.tile(prior, (len(test), 1))
    for j in range(train.shape[1]):
        if j == target:
            continue
        joint = np.bincount(train[:, target] * shape[j] + train[:, j],
                            minlength=k * shape[j]).reshape(k, shape[j]) + 1.0
        logp = np.log(joint / joint.sum(1, keepdims=True))
        score += logp[:, test[:, j]].T
    pred = score.argmax(1)
    return float((pred == test[:, target]).mean()) if len(test) else 0.0


def min_hamming(a: np.ndarray, ref: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """For each row of ``a``, the smallest Hamming distance to a row of ``ref``."""
    out = np.empty(len(a), dtype=np.int64)
    for s in range(0, len(a), CHUNK):
        block = a[s:s + CHUNK]
        dist = (block[:, None, :] != ref[None, :, :]).sum(2)
        if exclude_self:
            idx = np.arange(s, s + len(block))
            dist[np.arange(len(block)), idx] = a.shape[1] + 1
        out[s:s + CHUNK] = dist.min(1)
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC of scores (higher: member), ties counted half."""
    scores = np.concatenate([pos, neg]).astype(np.float64)
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = ranks[:len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _unique_rows(data: np.ndarray) -> set[bytes]:
    rows, counts = np.unique(data, axis=0, return_counts=True)
    return {r.tobytes() for r in rows[counts == 1]}


def rare_match_rate(real: np.ndarray, syn: np.ndarray) -> tuple[float, int]:
    """The share of ``real``'s unique records that appear in ``syn`` (and how many there are)."""
    rare = _unique_rows(real)
    if not rare:
        return 0.0, 0
    present = {r.tobytes() for r in np.unique(syn, axis=0)}
    return len(rare & present) / len(rare), len(rare)


def target_column(names: Sequence[str], roles: Sequence[str]) -> int:
    for want in ("performance_rating", "termination_date", "medical"):
        if want in roles:
            return list(roles).index(want)
    return len(names) - 1


def build_report(train: np.ndarray, holdout: np.ndarray, syn: np.ndarray,
                 shape: Sequence[int], names: Sequence[str], roles: Sequence[str]
                 ) -> dict[str, Any]:
    """Every figure of the report (numbers and column names only)."""
    rep: dict[str, Any] = {"rows": {"train": len(train), "holdout": len(holdout),
                                    "synthetic": len(syn)}, "columns": list(names)}
    marg: dict[str, Any] = {}
    for k in (1, 2, 3):
        s = mean_tvd(syn, train, shape, k)
        b = mean_tvd(holdout, train, shape, k) if len(holdout) else None
        marg[f"{k}way"] = {"synthetic": round(s, 4),
                           "fresh_real_sample": None if b is None else round(b, 4),
                           "gap": None if b is None else round(s - b, 4),
                           "marginals": len(workload(train.shape[1], k))}
    rep["tvd"] = marg
    rep["correlations"] = {"measure": "cramers_v", "real": correlations(train, shape),
                           "synthetic": correlations(syn, shape)}
    real_c = np.array(rep["correlations"]["real"])
    syn_c = np.array(rep["correlations"]["synthetic"])
    rep["correlations"]["mean_abs_difference"] = round(float(np.abs(real_c - syn_c).mean()), 4)
    if len(holdout):
        t = target_column(names, roles)
        majority = int(np.bincount(train[:, t], minlength=shape[t]).argmax())
        rep["downstream"] = {
            "target": names[t], "model": "categorical naive Bayes",
            "train_on_synthetic": round(naive_bayes_accuracy(syn, holdout, t, shape), 4),
            "train_on_real": round(naive_bayes_accuracy(train, holdout, t, shape), 4),
            "majority_class": round(float((holdout[:, t] == majority).mean()), 4)}
        d_syn = min_hamming(syn, train)
        d_hold = min_hamming(holdout, train)
        rate_train, n_train = rare_match_rate(train, syn)
        rate_hold, n_hold = rare_match_rate(holdout, syn)
        m = min(len(train), len(holdout))
        score_members = -min_hamming(train[:m], syn)
        score_non = -min_hamming(holdout[:m], syn)
        rep["privacy"] = {
            "dcr": {"synthetic_to_train_median": float(np.median(d_syn)),
                    "holdout_to_train_median": float(np.median(d_hold)),
                    "synthetic_exact_copies": round(float((d_syn == 0).mean()), 4),
                    "holdout_exact_copies": round(float((d_hold == 0).mean()), 4)},
            "rare_combinations": {"train_unique_records": n_train,
                                  "train_unique_in_synthetic": round(rate_train, 4),
                                  "holdout_unique_records": n_hold,
                                  "holdout_unique_in_synthetic": round(rate_hold, 4)},
            "membership_inference": {"attack": "closeness to the synthetic table (-DCR)",
                                     "auc": round(auc(score_members, score_non), 4),
                                     "members": m, "non_members": m},
        }
    return rep
