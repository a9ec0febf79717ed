"""Reference LoRA adapters for the calibrated membership attack (LiRA, global variance).

Employees (training and held-out together) are shuffled and cut into two halves; one adapter is
trained on the examples of each half (same base, same recipe as the target, fewer steps), so
every employee is "in" one reference and "out" of the other. ``n`` references = ``n / 2`` such
complementary pairs. Each reference scores every example; the audit turns the scores into
per-employee ``in`` / ``out`` loss lists for :func:`privtune.attacks.mia.lira_scores`.
Everything happens in private temp dirs, inside the network guard; nothing is kept.

A reference follows the target's own recipe: the same train spec (steps as the audit settings
say: the target's own by default) and, for a DP target, the same DP-SGD (``strategy(train)``
builds the step strategy for a reference's training set: same noise multiplier, clipping and
expected batch). The references are not charged to the people's budget in the ledger: they
never leave the audit's process (trained in a private temp dir, deleted), and what leaves is
only each employee's membership score folded into the verdict's aggregate figures (AUC, TPRs),
which go to the DPO with the report, not to the model's users (docs/audit-gate.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from privtune.attacks.canaries import is_canary
from privtune.attacks.mia import employee_examples
from privtune.tmp import private_tempdir

MAX_REF_VAL = 8


def reference_spec(target: Any, steps: int) -> Any:
    """The target's train spec with ``steps``, no evaluation, checkpoints, resume or MLflow."""
    metrics = target.metrics.model_copy(update={"mlflow": False})
    return target.model_copy(update={
        "steps": steps, "eval_every": 0, "checkpoint_every": 0, "resume_from": None,
        "early_stopping_patience": 0, "warmup_steps": min(target.warmup_steps, max(0, steps // 10)),
        "metrics": metrics,
    })


def halves(employees: list[str], pairs: int, seed: int) -> list[set[str]]:
    """``2 * pairs`` member sets: each pair a random half and its complement."""
    out = []
    rng = random.Random(seed)
    pool = sorted(employees)
    for _ in range(pairs):
        rng.shuffle(pool)
        cut = len(pool) // 2
        out += [set(pool[:cut]), set(pool[cut:])]
    return out


def train_references(base_dir: Path, examples: list[dict[str, Any]], target_spec: Any, n: int,
                     steps: int, seed: int, score: Callable[[Any, Any], list[float]],
                     strategy: Callable[[list[dict[str, Any]]], Any] | None = None,
                     index: dict[str, list[int]] | None = None,
                     ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``(in_losses, out_losses)`` per employee over ``n`` (rounded up to even) references;
    ``score(model, tokenizer)`` returns the per-example mean losses of ``examples``;
    ``strategy(train)``: the DP step strategy of a DP target (None: plain training);
    ``index``: the examples each employee is scored on (default: all of theirs)."""
    from privtune.train.generate import load_adapter
    from privtune.train.lora import finetune_lora

    everyone = employee_examples(examples)
    index = index if index is not None else everyone
    employees = sorted(everyone)
    spec = reference_spec(target_spec, steps)
    in_l: dict[str, list[float]] = {e: [] for e in employees}
    out_l: dict[str, list[float]] = {e: [] for e in employees}
    for k, members in enumerate(halves(employees, (n + 1) // 2, seed)):
        def inside(ex: dict[str, Any], members: set[str] = members) -> bool:
            ids = [e for e in ex.get("employee_ids") or [] if not is_canary(e)]
            return all(e in members for e in ids) and not any(
                is_canary(e) for e in ex.get("employee_ids") or [])

        train = [ex for ex in examples if inside(ex)]
        val = [ex for ex in examples if not inside(ex)][:MAX_REF_VAL]
        with private_tempdir(f"ref{k}") as tmp:
            finetune_lora(base_dir, train, val or train[:1],
                          spec.model_copy(update={"seed": seed + k}), tmp / "adapter",
                          strategy=strategy(train) if strategy is not None else None)
            model, tok = load_adapter(base_dir, tmp / "adapter")
            losses = score(model, tok)
        for e, idx in index.items():
            vals = [losses[i] for i in idx]
            if not vals:
                continue
            (in_l if e in members else out_l)[e].append(sum(vals) / len(vals))
    return in_l, out_l
