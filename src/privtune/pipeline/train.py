"""Stages ``train`` and ``evaluate``: LoRA fine-tuning into the vault, then held-out evaluation.

The adapter is written by PEFT into a private temporary directory, packed into the vault and
the directory removed. It is registered (vault manifest ``meta`` and the ``runs`` table) with
the base model's hash, the dataset versions, the resolved train config, the metrics and the
privacy settings. Checkpoints go to the vault as ``ckpt-<run-id>@N``; ``train.resume_from``
names one. Per-step metrics (numbers only) go to ``runs/<run-id>/metrics.jsonl`` (and to a local
MLflow file store under ``runs/<run-id>/`` when ``train.metrics.mlflow`` is on); for a DP run
only the public figures do (step, learning rate, validation loss on held-out employees:
:data:`privtune.train.metrics.PUBLIC_KEYS`), while the per-step training loss, gradient norm,
throughput and sampled/clipped unit counts, computed on the training data without noise, stay
in the vault inside the adapter's object (``metrics.jsonl``), readable only by roles that may
read the model. Training and evaluation run inside the network guard.

With ``dp.enabled`` the run is planned first (:func:`privtune.dp.plan.make_plan`: units,
sampling rate, delta, calibrated noise), checked against the privacy budget of the source
exports it descends from and charged to the privacy ledger in one transaction
(:func:`privtune.dp.ledger.admit`) **before** the base model is loaded;
the ``privacy`` block recorded with the adapter holds epsilon, delta, unit, accountant, noise
multiplier, clipping norm, sampling rate, steps and expected batch size, and the person-level
epsilon (``epsilon_person``, group privacy over ``group_size``: the most units one person's
data sits in, counting the third parties the training examples still name), and whether the
randomness was secure (``private``). A run without DP is recorded in the ledger as unbounded (``{"dp": false}``). A DP run with secure randomness writes no seed anywhere:
``train.seed`` is left out of the recorded config.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from privtune.datasets.integrity import check_manifest
from privtune.datasets.integrity import scan as scan_integrity
from privtune.dp import ledger
from privtune.dp.config import DPSpec
from privtune.errors import InputError, IntegrityError, WorkspaceError
from privtune.fsutil import atomic_write_text, private_dir, restrict_tree
from privtune.io import read_jsonl
from privtune.netguard import network_guard
from privtune.pipeline.result import StageResult
from privtune.progress import ProgressFn
from privtune.records import AdapterRecord, BaseModelRef
from privtune.store.models import Run, utcnow
from privtune.tmp import private_tempdir
from privtune.train.spec import TrainSpec, written_spec
from privtune.vault.objects import parse_ref
from privtune.workspace import Workspace

TRIAGE_KIND = "ticket_triage"
MAX_TRIAGE_EVAL = 40  # exact generation (greedy decoding per ticket)
MAX_TRIAGE_RANK = 400  # rank classification (one scoring pass per category)
CKPT_PREFIX = "ckpt-"
CKPT_SCHEMA = "privtune-train-checkpoint"
ADAPTER_SCHEMA = "peft-lora"


@dataclass(frozen=True)
class TrainedAdapter:
    """The train stage's record: the adapter's vault ref and stored record, plus the per-step
    history (numbers only, in-process: the report's loss chart)."""

    ref: str
    adapter: AdapterRecord
    history: list[dict[str, Any]]


def _loggers(spec: TrainSpec, run_dir: Path, config: dict[str, Any], dp: bool) -> list[Any]:
    if not spec.metrics.mlflow:
        return []
    from privtune.train.metrics import MlflowLogger, PublicOnly, flatten

    sink = MlflowLogger(run_dir / spec.metrics.mlflow_dir, spec.metrics.experiment,
                        flatten(config))
    return [PublicOnly(sink) if dp else sink]


def _publish_metrics(src: Path, dest: Path, dp: bool) -> None:
    """``runs/<run-id>/metrics.jsonl``: every row, or for a DP run only the public figures
    (the full rows stay in the adapter's vault object)."""
    from privtune.train.metrics import public_row

    if not dp:
        shutil.copyfile(src, dest)
        return
    rows = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
    atomic_write_text(dest, "".join(json.dumps(public_row(r)) + "\n" for r in rows))


def check_training_data(ref: str, train: list[dict[str, Any]], meta: dict[str, Any]
                        ) -> dict[str, Any]:
    """Before training (OWASP LLM04): the examples must match the integrity manifest recorded at
    build time, and no planted trigger may be found (IntegrityError naming the example ids);
    duplicates, near-duplicates, outliers and label flips are reported in the run's figures."""
    checked = check_manifest(ref, train, meta)
    report = scan_integrity(train)
    if report.triggers:
        raise IntegrityError(
            f"training set '{ref}': possible data poisoning: {len(report.poisoned)} examples share "
            "a rare phrase with one label that the rest of their text does not predict "
            f"({', '.join(report.poisoned[:8])}); inspect them, rebuild the dataset without them")
    return {"manifest_checked": checked, **report.figures()}


def train_adapter(
    ws: Workspace,
    base: BaseModelRef,
    train_data: str,
    val_data: str,
    spec: TrainSpec,
    progress: ProgressFn | None = None,
    *,
    name: str = "adapter",
    dp: DPSpec | None = None,
) -> StageResult[TrainedAdapter]:
    from privtune.dp.strategy import DPStepStrategy
    from privtune.train.lora import finetune_lora

    t0 = time.perf_counter()
    base_dir, base_sha256 = base.dir, base.sha256
    train_ref, val_ref = ws.vault.resolve(train_data), ws.vault.resolve(val_data)
    if spec.quantization == "4bit":
        from privtune.train.qlora import check_qlora_available

        check_qlora_available()  # before reading anything
    train, val = read_jsonl(ws.vault, train_ref), read_jsonl(ws.vault, val_ref)
    integrity = check_training_data(train_ref, train, ws.vault.manifest(train_ref).meta or {})
    run_id = f"train-{utcnow().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    ckpt_name = f"{CKPT_PREFIX}{run_id}"
    resume_ref = None
    if spec.resume_from:
        resume_ref = ws.vault.resolve(spec.resume_from)
        m = ws.vault.manifest(resume_ref)
        if m.schema != CKPT_SCHEMA:
            raise InputError(f"'{resume_ref}' is not a training checkpoint", field="train.resume_from")
        if (m.meta or {}).get("base_model_sha256") != base_sha256:
            raise InputError("the checkpoint was trained on another base model",
                             field="train.resume_from")
        ckpt_name = parse_ref(resume_ref).name  # a resumed run continues the same series
    run_dir = ws.runs_dir / run_id
    plan = None
    if dp is not None and dp.enabled:
        from privtune.dp.plan import make_plan

        plan = make_plan(dp, [ex.get("employee_ids") or [] for ex in train], spec.steps,
                         [ex.get("mentions") or [] for ex in train])
        privacy = plan.record()
    else:
        privacy = {"dp": False}
    # Check the budget and reserve in one transaction, before anything is recorded or loaded.
    # The ledger charges the people: the person-level epsilon (group privacy over the most
    # units one person's data sits in), which is the unit-level one only when that is 1.
    ledger.admit(ws.access.check, ws.store, run_id, train_ref,
                 plan.epsilon_person if plan else None,
                 plan.delta if plan else 0.0, plan.spec.unit if plan else "",
                 plan.spec.accountant if plan else "", default_budget=ws.config.dp_budget_epsilon,
                 config_budget=dp.budget_epsilon if dp is not None else None)
    # a DP run with secure randomness ignores train.seed and stores no seed (docs/dp.md)
    seeded = not (dp is not None and dp.secure)
    config = {"train": written_spec(spec, seeded), "train_data": train_ref, "val_data": val_ref,
              "base_model_sha256": base_sha256, "privacy": privacy}
    if resume_ref:
        config["resumed_from"] = resume_ref
    with ws.store.session() as s:
        s.add(Run(id=run_id, kind="train", config=config))

    def sink(step: int, directory: Path) -> str:
        return ws.vault.put_dir(ckpt_name, directory, kind="adapter", schema=CKPT_SCHEMA,
                                parents=[train_ref, val_ref],
                                meta={"step": step, "run_id": run_id,
                                      "base_model_sha256": base_sha256})

    strategy = DPStepStrategy(plan) if plan is not None else None
    try:
        private_dir(run_dir)
        with network_guard(), private_tempdir("adapter") as out:
            resume_dir = ws.vault.get_dir(resume_ref, out / "resume") if resume_ref else None
            result = finetune_lora(base_dir, train, val, spec, out / "adapter", progress,
                                   resume=resume_dir, checkpoint_sink=sink,
                                   loggers=_loggers(spec, run_dir, config, plan is not None),
                                   checkpoint_meta={"base_model_sha256": base_sha256},
                                   strategy=strategy)
            if plan is not None:
                config["privacy"] = privacy = result.extra["privacy"]
            adapter_dir = out / "adapter"
            _publish_metrics(adapter_dir / "metrics.jsonl", run_dir / "metrics.jsonl",
                             plan is not None)
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
                "tokens_per_s": result.tokens_per_s,
                "precision": result.precision,
                "device": result.device,
                "stopped_early": result.stopped_early,
                "resumed_from_step": result.resumed_from_step,
                "checkpoints": len(result.checkpoints),
                "dp": privacy["dp"],
            }
            if plan is not None:
                figures.update(epsilon=privacy["epsilon"], epsilon_person=privacy["epsilon_person"],
                               group_size=privacy["group_size"], delta=privacy["delta"],
                               dp_unit=privacy["unit"], target_epsilon=privacy["target_epsilon"]
                               or privacy["epsilon"],
                               noise_multiplier=privacy["noise_multiplier"],
                               private=privacy["private"])
            record = AdapterRecord(
                train=config["train"], train_data=train_ref, val_data=val_ref,
                base_model=str(base_dir), base_model_sha256=base_sha256, privacy=privacy,
                metrics=figures, checkpoints=list(result.checkpoints),
                resumed_from=resume_ref)
            ref = ws.vault.put_dir(name, adapter_dir, kind="adapter", schema=ADAPTER_SCHEMA,
                                   parents=[train_ref, val_ref], meta=record.to_dict())
    except BaseException:
        restrict_tree(run_dir)  # loggers write with the umask's mode; run files are 0600
        with ws.store.session() as s:
            row = _run_row(s, run_id)
            row.status, row.finished_at = "failed", utcnow()
        # charged for the DP steps it took (the accountant's epsilon of those steps; a run
        # resumed from a checkpoint, or killed outright, stays charged at its plan)
        ledger.settle(ws.store, run_id, "failed",
                      strategy.spent_epsilon() if strategy is not None else None)
        raise
    restrict_tree(run_dir)
    ledger.settle(ws.store, run_id, "done", privacy.get("epsilon_person"))
    with ws.store.session() as s:
        row = _run_row(s, run_id)
        row.status, row.finished_at, row.metrics, row.outputs = "done", utcnow(), figures, [ref]
        row.config = config
    history = list(result.history)
    if plan is not None:  # the report's chart and the console summary: public figures only
        from privtune.train.metrics import public_row

        history = [public_row(r) for r in history]
    trained = TrainedAdapter(ref, record, history)
    # the training-data integrity section (counts and example ids, no text) of the summary
    return StageResult("train", trained, outputs={"adapter": ref}, figures={**figures, "integrity": integrity},
                       seconds=time.perf_counter() - t0)


def _run_row(s: Session, run_id: str) -> Run:
    row = s.get(Run, run_id)
    if row is None:  # added at the start of this run, in the same store
        raise WorkspaceError(f"the runs table lost run {run_id}")
    return row


def evaluate_adapter(ws: Workspace, base: BaseModelRef, trained: TrainedAdapter) -> StageResult[None]:
    """Held-out employees: validation loss base vs tuned, and ticket-triage accuracy by rank
    classification (the likeliest of the categories' answers, :mod:`privtune.train.classify`)
    and by exact greedy generation."""
    from privtune.train.classify import answer_of, prompt_of, rank_accuracy
    from privtune.train.generate import generate, load_adapter

    t0 = time.perf_counter()
    base_dir, adapter_ref, val_ref = base.dir, trained.ref, trained.adapter.val_data
    initial_val_loss = float(trained.adapter.metrics["initial_val_loss"])
    final_val_loss = float(trained.adapter.metrics["final_val_loss"])
    val = read_jsonl(ws.vault, val_ref)
    train = read_jsonl(ws.vault, trained.adapter.train_data)
    triage_all = [ex for ex in val if ex["kind"] == TRIAGE_KIND][:MAX_TRIAGE_RANK]
    triage = triage_all[:MAX_TRIAGE_EVAL]
    choices = sorted({answer_of(ex) for ex in train + val if ex["kind"] == TRIAGE_KIND})
    max_len = int(trained.adapter.train.get("max_seq_len", 256))
    with network_guard(), private_tempdir("eval") as tmp:
        adapter_dir = ws.vault.get_dir(adapter_ref, tmp / "adapter")
        model, tokenizer = load_adapter(base_dir, adapter_dir)
        correct_tuned = correct_base = 0
        for ex in triage:
            prompt = prompt_of(ex)
            want = _norm(answer_of(ex))
            if _norm(generate(model, tokenizer, prompt, max_new_tokens=8)) == want:
                correct_tuned += 1
            with model.disable_adapter():
                if _norm(generate(model, tokenizer, prompt, max_new_tokens=8)) == want:
                    correct_base += 1
        rank_tuned = rank_base = float("nan")
        if triage_all and choices:
            rank_tuned = rank_accuracy(model, tokenizer, triage_all, choices, max_len)
            with model.disable_adapter():
                rank_base = rank_accuracy(model, tokenizer, triage_all, choices, max_len)
    n = max(1, len(triage))
    res = StageResult("evaluate", None)
    res.figures = {
        "val_employees_only": True,
        "val_loss_base": round(initial_val_loss, 4),
        "val_loss_tuned": round(final_val_loss, 4),
        "val_loss_drop": round(initial_val_loss - final_val_loss, 4),
        "triage_examples": len(triage),
        "triage_accuracy_base": round(correct_base / n, 3),
        "triage_accuracy_tuned": round(correct_tuned / n, 3),
        "triage_rank_examples": len(triage_all),
        "triage_categories": len(choices),
        "triage_rank_accuracy_base": round(rank_base, 3),
        "triage_rank_accuracy_tuned": round(rank_tuned, 3),
    }
    res.seconds = time.perf_counter() - t0
    return res


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".").split())
