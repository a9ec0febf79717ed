"""Stages ``train`` and ``evaluate``: LoRA fine-tuning into the vault, then held-out evaluation.

The adapter is written by PEFT into a private temporary directory, packed into the vault and
the directory removed. Per-step metrics (numbers only) go to ``runs/<run-id>/metrics.jsonl``.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from privtune.pipeline.io import read_jsonl
from privtune.pipeline.result import ProgressFn, StageResult
from privtune.store.models import Run, utcnow
from privtune.tmp import private_tempdir
from privtune.train.spec import TrainSpec
from privtune.workspace import Workspace

TRIAGE_KIND = "ticket_triage"
MAX_TRIAGE_EVAL = 40


def train_adapter(
    ws: Workspace,
    base_dir: Path,
    base_sha256: str,
    data: dict[str, str],
    spec: TrainSpec,
    progress: ProgressFn | None = None,
) -> StageResult:
    from privtune.train.lora import finetune_lora

    t0 = time.perf_counter()
    train_ref, val_ref = ws.vault.resolve(data["train"]), ws.vault.resolve(data["val"])
    train, val = read_jsonl(ws.vault, train_ref), read_jsonl(ws.vault, val_ref)
    run_id = f"train-{utcnow().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = ws.runs_dir / run_id
    config = {"train": spec.model_dump(mode="json"), "train_data": train_ref, "val_data": val_ref,
              "base_model_sha256": base_sha256}
    with ws.store.session() as s:
        s.add(Run(id=run_id, kind="train", config=config))
    try:
        with private_tempdir("adapter") as out:
            result = finetune_lora(base_dir, train, val, spec, out, progress)
            run_dir.mkdir(parents=True, exist_ok=True)
            metrics_file = out / "metrics.jsonl"
            if metrics_file.is_file():
                shutil.copyfile(metrics_file, run_dir / "metrics.jsonl")
            figures = {
                "run_id": run_id,
                "steps": result.steps,
                "train_examples": len(train),
                "val_examples": len(val),
                "trainable_params": result.trainable_params,
                "total_params": result.total_params,
                "initial_val_loss": round(result.initial_val_loss, 4),
                "final_val_loss": round(result.final_val_loss, 4),
                "train_seconds": round(result.seconds, 2),
            }
            ref = ws.vault.put_dir(
                "adapter", out, kind="adapter", parents=[train_ref, val_ref],
                meta={**config, "metrics": figures, "base_model": str(base_dir)},
            )
    except BaseException:
        with ws.store.session() as s:
            row = s.get(Run, run_id)
            row.status, row.finished_at = "failed", utcnow()
        raise
    with ws.store.session() as s:
        row = s.get(Run, run_id)
        row.status, row.finished_at, row.metrics, row.outputs = "done", utcnow(), figures, [ref]
    res = StageResult("train", outputs={"adapter": ref}, figures=figures)
    res.extra["history"] = result.history
    res.seconds = time.perf_counter() - t0
    return res


def evaluate_adapter(ws: Workspace, base_dir: Path, adapter_ref: str, val_ref: str,
                     initial_val_loss: float, final_val_loss: float) -> StageResult:
    """Held-out employees: validation loss base vs tuned, and ticket-triage accuracy."""
    from privtune.train.generate import generate, load_adapter

    t0 = time.perf_counter()
    val = read_jsonl(ws.vault, val_ref)
    triage = [ex for ex in val if ex["kind"] == TRIAGE_KIND][:MAX_TRIAGE_EVAL]
    with private_tempdir("eval") as tmp:
        adapter_dir = ws.vault.get_dir(adapter_ref, tmp / "adapter")
        model, tokenizer = load_adapter(base_dir, adapter_dir)
        correct_tuned = correct_base = 0
        for ex in triage:
            prompt = [m for m in ex["messages"] if m["role"] != "assistant"]
            want = _norm(next(m["content"] for m in ex["messages"] if m["role"] == "assistant"))
            if _norm(generate(model, tokenizer, prompt, max_new_tokens=8)) == want:
                correct_tuned += 1
            with model.disable_adapter():
                if _norm(generate(model, tokenizer, prompt, max_new_tokens=8)) == want:
                    correct_base += 1
    n = max(1, len(triage))
    res = StageResult("evaluate")
    res.figures = {
        "val_employees_only": True,
        "val_loss_base": round(initial_val_loss, 4),
        "val_loss_tuned": round(final_val_loss, 4),
        "val_loss_drop": round(initial_val_loss - final_val_loss, 4),
        "triage_examples": len(triage),
        "triage_accuracy_base": round(correct_base / n, 3),
        "triage_accuracy_tuned": round(correct_tuned / n, 3),
    }
    res.seconds = time.perf_counter() - t0
    return res


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".").split())
