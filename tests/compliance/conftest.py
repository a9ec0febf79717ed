"""A small synthetic company carried through the whole pipeline (tiny model, a few DP steps, a
quick audit), built once per module that asks for it; erasure and access tests work on copies."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from privtune.netguard import enable_offline_mode

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

enable_offline_mode()

EMPLOYEES, SEED = 40, 5
SMALL = [
    f"company.employees={EMPLOYEES}", f"company.seed={SEED}",
    "model.tiny.steps=10", "model.tiny.warmup=2", "model.tiny.batch_size=8", "model.tiny.seq_len=128",
    "model.tiny.model.hidden_size=32", "model.tiny.model.intermediate_size=64",
    "model.tiny.model.num_hidden_layers=1", "model.tiny.model.vocab_size=512",
    "dataset.canaries.repetitions=[1,4]", "dataset.canaries.candidates=4",
    "dataset.canaries.max_unit_fraction=0.5",
    "dataset.val_fraction=0.3", "dataset.third_parties=placeholder",
    "train.steps=3", "train.batch_size=8", "train.eval_every=0", "train.warmup_steps=1",
    "train.max_seq_len=256", "dp.target_epsilon=2.0",
    "dp.expected_batch_size=8",
    "audit.exposure.candidates=50", "audit.mia.reference_models=0",
    "audit.extraction.employees=2", "audit.extraction.prefixes_per_employee=1",
    "audit.extraction.samples=1", "audit.prompt_attacks.targets=1",
    "audit.prompt_attacks.samples=0",
]


def _people(export: Path) -> dict[str, Any]:
    with (export / "employees.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    tickets = [json.loads(line) for line in (export / "tickets.jsonl").read_text().splitlines()]
    by_id = {r["employee_id"]: r for r in rows}
    managers = {r["manager_id"] for r in rows if r["manager_id"]}
    named: str | None = None
    for t in tickets:  # someone named in another employee's ticket
        for r in rows:
            if r["employee_id"] != t["employee_id"] and \
                    f"{r['first_name']} {r['last_name']}".lower() in t["text"].lower():
                named = r["employee_id"]
                break
        if named:
            break
    assert named, "the synthetic company names nobody in another's ticket"
    manager = sorted(m for m in managers if m != named and m != "E00001")[0]
    plain = next(i for i in sorted(by_id) if i not in managers and i not in (named, manager))
    return {"rows": rows, "by_id": by_id, "erase": [manager, named, plain],
            "keep": next(i for i in sorted(by_id, reverse=True)
                         if i not in (manager, named, plain) and i not in managers)}


def identifiers(row: dict[str, str]) -> list[str]:
    """What a grep looks for: the id, name forms, e-mail, phone, SSN, IBAN, home address."""
    out = [row["employee_id"], f"{row['first_name']} {row['last_name']}",
           f"{row['last_name']}, {row['first_name']}", row["email"], row["phone"], row["ssn"],
           row["iban"], row["home_address"]]
    return [x for x in out if x]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.access import admin
    from privtune.config import load_config
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.synth import generate_company
    from privtune.workspace import init_workspace

    root = tmp_path_factory.mktemp("compliance")
    cfg = load_config(PipelineConfig, None, SMALL)
    export = root / "export"
    generate_company(EMPLOYEES, SEED, export, fmt="csv")
    ws = init_workspace(root / "ws")
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role).secret
            for role in ("dpo", "ml-engineer", "viewer", "auditor")}
    keys["admin2"] = admin.add_user(ws.access, ws.store, "second-admin", "admin").secret
    stages = run_stages(ws, cfg, export, stop="audit", skip=("scan", "evaluate"))
    ws.close()
    assert stages.train is not None
    return {"root": root, "ws": root / "ws", "export": export, "cfg": cfg, "keys": keys,
            "adapter": stages.train.record.ref, "people": _people(export)}


@pytest.fixture()
def fresh(company: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A private copy of the company's workspace (each test changes its own)."""
    dst = tmp_path / "ws"
    shutil.copytree(company["ws"], dst)
    return {**company, "ws": dst}
