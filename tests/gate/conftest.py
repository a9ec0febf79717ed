"""A small workspace with a deliberately memorising adapter: no DP, one canary repeated many
times, a small base trained to low loss. Built once per session; the audits share it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from privtune.netguard import enable_offline_mode

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

enable_offline_mode()

EMPLOYEES, SEED = 40, 5
SMALL = [
    f"company.employees={EMPLOYEES}", f"company.seed={SEED}",
    "model.tiny.steps=30", "model.tiny.warmup=3", "model.tiny.batch_size=8", "model.tiny.seq_len=64",
    "model.tiny.model.hidden_size=64", "model.tiny.model.intermediate_size=128",
    "model.tiny.model.num_hidden_layers=2", "model.tiny.model.vocab_size=1024",
    "dataset.canaries.repetitions=[32]", "dataset.canaries.candidates=20",
    "dataset.canaries.max_unit_fraction=0.5", "dataset.canaries.seed=3", "dataset.val_fraction=0.5",
    "train.steps=120", "train.batch_size=16", "train.lr=0.01", "train.eval_every=0", "train.warmup_steps=5",
    "train.lora.dropout=0.0", "dp.enabled=false",
]
# A quick audit: enough to see the memorised canary, cheap enough for the test suite.
QUICK_AUDIT = ["exposure.candidates=200", "mia.reference_models=2", "mia.reference_steps=4",
               "extraction.employees=4", "extraction.prefixes_per_employee=1",
               "extraction.samples=1", "prompt_attacks.targets=1", "prompt_attacks.samples=0"]
NO_REF_AUDIT = [o for o in QUICK_AUDIT if not o.startswith("mia.")] + ["mia.reference_models=0"]


@pytest.fixture(scope="session")
def memorising(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from privtune.config import load_config
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.synth import generate_company
    from privtune.workspace import init_workspace

    root = tmp_path_factory.mktemp("gate")
    cfg = load_config(PipelineConfig, None, SMALL + [f"audit.{o}" for o in QUICK_AUDIT])
    export = root / "export"
    generate_company(EMPLOYEES, SEED, export, fmt="csv")
    ws = init_workspace(root / "ws")
    stages = run_stages(ws, cfg, export, stop="train", skip=("scan",))
    ws.close()
    assert stages.dataset and stages.base_model and stages.train
    base = stages.base_model.record
    return {"root": root, "ws_dir": root / "ws", "export": export, "cfg": cfg,
            "adapter": stages.train.record.ref, "base": base, "base_dir": Path(base.dir),
            "base_sha256": base.sha256,
            "dataset": stages.dataset.outputs, "dataset_record": stages.dataset.record,
            "train": stages.train.figures}


@pytest.fixture(scope="session")
def failed_audit(memorising: dict) -> dict:
    from privtune.gate.audit import run_audit
    from privtune.gate.policy import GatePolicy
    from privtune.pipeline.site import gate_site
    from privtune.workspace import Workspace

    with Workspace.open(memorising["ws_dir"], api_key=ADMIN_KEY) as ws:
        out = run_audit(gate_site(ws), memorising["adapter"], memorising["cfg"].audit, GatePolicy())
    return {"outcome": out}
