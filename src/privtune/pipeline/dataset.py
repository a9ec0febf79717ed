"""Stage ``dataset``: chat-format training examples from de-identified data, split by employee."""

from __future__ import annotations

import secrets as _secrets
import time
from collections import Counter
from typing import Any

from privtune.anonymity.gate import require_anonymous
from privtune.attacks.canaries import SCHEMA as CANARY_SCHEMA
from privtune.attacks.canaries import VAULT_NAME as CANARY_NAME
from privtune.attacks.canaries import Canary, canaries_bytes, is_canary, plant_canaries
from privtune.datasets import build_examples, split_by_employee
from privtune.io import jsonl_bytes, read_json, read_jsonl, read_table
from privtune.pipeline.config import DatasetSpec
from privtune.pipeline.result import StageResult
from privtune.records import DatasetRecord
from privtune.workspace import Workspace


def build_dataset(ws: Workspace, deid: dict[str, str], policies_ref: str | None,
                  spec: DatasetSpec) -> StageResult[DatasetRecord]:
    t0 = time.perf_counter()
    # Data missing the de-identification policy's k (or l) is refused for training (exit 8).
    require_anonymous(ws.vault.manifest(deid["employees"]).meta, f"'{deid['employees']}'")
    employees = read_table(ws.vault, deid["employees"]).to_pylist()
    tickets = read_jsonl(ws.vault, deid["tickets"]) if "tickets" in deid else []
    policies = read_json(ws.vault, policies_ref) if policies_ref else {}
    examples = build_examples(employees, tickets, policies, spec.seed, spec.templates)
    split = split_by_employee(examples, spec.val_fraction, spec.seed)
    train, val = split.train, split.val
    parents = list(deid.values()) + ([policies_ref] if policies_ref else [])
    outputs: dict[str, str] = {}
    train_meta: dict[str, Any] = {"examples": len(train), "val_fraction": spec.val_fraction,
                                  "seed": spec.seed}
    canaries: list[Canary] = []
    if spec.canaries.enabled:
        # Secret canaries (training split only): their secrets live in the vault only.
        seed = spec.canaries.seed if spec.canaries.seed is not None else _secrets.randbits(48)
        train, canaries = plant_canaries(train, spec.canaries, seed)
        outputs["canaries"] = ws.vault.put(
            CANARY_NAME, canaries_bytes(canaries, spec.canaries), kind="blob",
            schema=CANARY_SCHEMA, meta={"canaries": len(canaries),
                                        "repetitions": spec.canaries.repetitions})
        train_meta.update(examples=len(train), canaries=outputs["canaries"])
    outputs["train"] = ws.vault.put(
        "trainset", jsonl_bytes(train), kind="examples", schema="chat-jsonl",
        parents=parents + ([outputs["canaries"]] if canaries else []), meta=train_meta,
    )
    outputs["val"] = ws.vault.put(
        "valset", jsonl_bytes(val), kind="examples", schema="chat-jsonl", parents=parents,
        meta={"examples": len(val), "val_fraction": spec.val_fraction, "seed": spec.seed},
    )
    record = DatasetRecord(train=outputs["train"], val=outputs["val"],
                           canaries=outputs.get("canaries"), val_fraction=spec.val_fraction,
                           seed=spec.seed)
    n_canary = sum(c.repetitions for c in canaries)
    train_emps = {e for ex in train for e in ex["employee_ids"] if not is_canary(e)}
    val_emps = {e for ex in val for e in ex["employee_ids"]}
    figures = {
        "examples": len(examples),
        "train_examples": len(train),
        "val_examples": len(val),
        "dropped_mixed_examples": len(examples) - (len(train) - n_canary) - len(val),
        "train_employees": len(train_emps),
        "val_employees": len(val_emps),
        "employees_in_both": len(train_emps & val_emps),
        "by_kind": dict(sorted(Counter(ex["kind"] for ex in examples).items())),
        "canaries": len(canaries),
        "canary_examples": n_canary,
    }
    return StageResult("dataset", record, outputs, figures, time.perf_counter() - t0)
