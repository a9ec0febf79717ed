"""Membership inference at the employee level: was this employee's data in the training set?

Members are the training employees, non-members the held-out (validation) employees: the
dataset is split by employee, so both sides are real employees of the same company, treated
the same way. An employee's loss is the mean, over their examples, of the example's mean
assistant-token loss. Attacks (higher score = "member"):

* ``loss`` — the loss-threshold attack (Yeom et al.): ``-loss_target``;
* ``reference`` — calibrated by the base model (no adapter): ``loss_base - loss_target``; it
  removes how hard an employee's examples are anyway;
* ``lira`` — reference-calibrated with adapters trained on random halves of the employees
  (complementary pairs, so each employee is "in" for half of them and "out" for the rest):
  the Gaussian likelihood ratio with a global variance, which ranks like
  ``(l - mu_out)^2 - (l - mu_in)^2`` (see :mod:`privtune.attacks.references`).

Members and non-members are **matched in make-up** (:func:`matched_index`): each employee is
scored on their own examples (the first of ``employee_ids``), one per *slot* (the kind, and the
field of a fact), over the slots most employees on both sides have; employees missing one of
them are left out. Both sides then hold the same task mix per person, so a difference in losses
is membership, not a different mix of easy and hard examples.

Each attack reports AUC, TPR at 1% and 0.1% FPR, the TPR at the lowest resolvable FPR
(``1 / non-members``), the employee counts and the FPR resolution.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from privtune.attacks.canaries import is_canary
from privtune.attacks.roc import auc, roc_curve, tpr_at_fpr


def employee_examples(examples: Iterable[dict[str, Any]]) -> dict[str, list[int]]:
    """``{employee_id: [example index, ...]}`` (canaries and policy examples left out)."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        for e in ex.get("employee_ids") or []:
            if not is_canary(e):
                out[str(e)].append(i)
    return dict(out)


def slot(ex: dict[str, Any]) -> str:
    """An example's task slot: its kind, and the field for an ``employee_fact``."""
    kind = str(ex.get("kind", ""))
    if kind == "employee_fact":
        return f"{kind}:{str(ex.get('id', '')).split(':')[-1]}"
    return kind


def matched_index(examples: list[dict[str, Any]], members: set[str], non_members: set[str],
                  share: float = 0.5) -> tuple[dict[str, list[int]], list[str]]:
    """``({employee: [example index per common slot]}, common slots)``: own examples only, one
    per slot, the slots held by at least ``share`` of the members and of the non-members;
    employees lacking any of them are dropped."""
    own: dict[str, dict[str, int]] = defaultdict(dict)
    for i, ex in enumerate(examples):
        ids = ex.get("employee_ids") or []
        if not ids or is_canary(ids[0]):
            continue
        own[str(ids[0])].setdefault(slot(ex), i)

    def held(group: set[str]) -> Counter[str]:
        return Counter(s for e in group if e in own for s in own[e])

    n_in = sum(1 for e in members if e in own)
    n_out = sum(1 for e in non_members if e in own)
    c_in, c_out = held(members), held(non_members)
    common = sorted(s for s in c_in if c_in[s] >= share * n_in and c_out[s] >= share * max(n_out, 1))
    index = {e: [slots[s] for s in common] for e, slots in own.items()
             if (e in members or e in non_members) and common and all(s in slots for s in common)}
    return index, common


def employee_losses(per_example: list[float], index: Mapping[str, list[int]]) -> dict[str, float]:
    """Mean of the per-example losses of each employee."""
    out = {}
    for e, idx in index.items():
        vals = [per_example[i] for i in idx if not math.isnan(per_example[i])]
        if vals:
            out[e] = sum(vals) / len(vals)
    return out


def loss_scores(target: Mapping[str, float]) -> dict[str, float]:
    return {e: -v for e, v in target.items()}


def reference_scores(target: Mapping[str, float], reference: Mapping[str, float]) -> dict[str, float]:
    return {e: reference[e] - v for e, v in target.items() if e in reference}


def lira_scores(target: Mapping[str, float], in_losses: Mapping[str, list[float]],
                out_losses: Mapping[str, list[float]]) -> dict[str, float]:
    """Global-variance LiRA: ``(l - mu_out)^2 - (l - mu_in)^2`` (twice sigma^2 times the log
    likelihood ratio; the constant does not change any ranking). Employees without both kinds
    of reference fall back to ``mu_out - l`` or ``mu_in``-free offline form."""
    out = {}
    for e, loss in target.items():
        ins, outs = in_losses.get(e) or [], out_losses.get(e) or []
        if ins and outs:
            mu_in, mu_out = sum(ins) / len(ins), sum(outs) / len(outs)
            out[e] = (loss - mu_out) ** 2 - (loss - mu_in) ** 2
        elif outs:
            out[e] = sum(outs) / len(outs) - loss
    return out


@dataclass
class AttackResult:
    name: str
    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    tpr_at_min_fpr: float
    members: int
    non_members: int
    roc: list[tuple[float, float]] = field(default_factory=list)

    @property
    def fpr_resolution(self) -> float:
        return 1.0 / self.non_members

    def as_dict(self) -> dict[str, Any]:
        return {"attack": self.name, "auc": round(self.auc, 4),
                "tpr_at_1pct_fpr": round(self.tpr_at_1pct_fpr, 4),
                "tpr_at_0.1pct_fpr": round(self.tpr_at_01pct_fpr, 4),
                "tpr_at_lowest_fpr": round(self.tpr_at_min_fpr, 4),
                "members": self.members, "non_members": self.non_members,
                "fpr_resolution": round(self.fpr_resolution, 5),
                # the ROC curve (at most 101 points, ends kept): the console's plot
                "roc": [[round(x, 4), round(y, 4)] for x, y in _thin(self.roc, 101)]}


def _thin(points: list[tuple[float, float]], n: int) -> list[tuple[float, float]]:
    if len(points) <= n:
        return list(points)
    step = (len(points) - 1) / (n - 1)
    return [points[round(i * step)] for i in range(n)]


def evaluate_attack(name: str, scores: Mapping[str, float], members: set[str],
                    non_members: set[str]) -> AttackResult:
    s_in = [v for e, v in scores.items() if e in members]
    s_out = [v for e, v in scores.items() if e in non_members]
    return AttackResult(name, auc(s_in, s_out), tpr_at_fpr(s_in, s_out, 0.01),
                        tpr_at_fpr(s_in, s_out, 0.001), tpr_at_fpr(s_in, s_out, 1 / len(s_out)),
                        len(s_in), len(s_out),
                        roc_curve(s_in, s_out))


@dataclass
class Outsider:
    """A person known to be outside a model's data (an erased one): their pseudonyms and their
    own examples from the data they were removed from (possibly none)."""

    tokens: list[str]
    examples: list[dict[str, Any]] = field(default_factory=list)


def percentile(score: float, population: Iterable[float]) -> float | None:
    """The share (0..100) of ``population`` scoring below ``score``, ties counting one half;
    None for an empty population. A non-member drawn like the held-out employees lands near 50
    on average; a person the model remembers near 100."""
    pop = list(population)
    if not pop:
        return None
    below = sum(1 for v in pop if v < score) + 0.5 * sum(1 for v in pop if v == score)
    return 100.0 * below / len(pop)


def own_slot_index(examples: list[dict[str, Any]], slots: list[str]) -> tuple[list[int], bool]:
    """The examples one person is scored on, the way :func:`matched_index` picks them: their
    own examples (first of ``employee_ids``), one per common slot; ``(indices, matched)``, where
    ``matched`` is False when they lack a common slot (then every slot they hold is used)."""
    own: dict[str, int] = {}
    for i, ex in enumerate(examples):
        ids = ex.get("employee_ids") or []
        if ids and not is_canary(ids[0]):
            own.setdefault(slot(ex), i)
    if slots and all(s in own for s in slots):
        return [own[s] for s in slots], True
    return sorted(own[s] for s in own if not slots or s in slots) or sorted(own.values()), False


def place_outsider(name: str, score: float, scores: Mapping[str, float], members: set[str],
                   non_members: set[str]) -> dict[str, Any]:
    """Where one person known to be outside the training set (an erased one) falls among the
    audit's scores for one attack: their percentile among the held-out employees and among
    the members, and whether the attack at its lowest resolvable FPR (a threshold above every
    held-out employee) would call them a member."""
    s_out = [v for e, v in scores.items() if e in non_members]
    s_in = [v for e, v in scores.items() if e in members]
    pct_out, pct_in = percentile(score, s_out), percentile(score, s_in)
    return {"attack": name,
            "non_member_percentile": None if pct_out is None else round(pct_out, 1),
            "member_percentile": None if pct_in is None else round(pct_in, 1),
            "non_members": len(s_out), "members": len(s_in),
            "flagged_as_member": bool(s_out) and score > max(s_out)}
