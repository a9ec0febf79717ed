"""DP fine-tuning end to end: `privtune train` with dp.enabled, the privacy record, the ledger,
budget refusal before anything starts, and exact resume of a DP run."""

from __future__ import annotations

import os

import pytest
import yaml

from privtune.cli.main import run
from privtune.dp import ledger
from privtune.dp.config import DPSpec
from privtune.dp.plan import make_plan
from privtune.dp.strategy import DPStepStrategy
from privtune.io import jsonl_bytes
from privtune.store.models import Run
from privtune.train.lora import train_lora
from privtune.train.spec import TrainSpec
from privtune.workspace import Workspace, init_workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

pytestmark = pytest.mark.slow

PRIVACY_KEYS = {"dp", "epsilon", "delta", "unit", "accountant", "noise_multiplier",
                "max_grad_norm", "sampling_rate", "steps", "expected_batch_size"}


def _with_ids(examples, prefix, n=12):
    out = []
    for i, ex in enumerate(examples):
        ids = [f"{prefix}{i % n}"] + ([f"{prefix}{(i + 1) % n}"] if i % 5 == 0 else [])
        out.append({**ex, "employee_ids": ids})
    return out


@pytest.fixture(scope="module")
def dp_ws(tiny_base, colour_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("dpcli")
    ws = init_workspace(root / "ws")
    train, val = colour_data
    ws.vault.put("trainset", jsonl_bytes(_with_ids(train, "T")), kind="examples")
    ws.vault.put("valset", jsonl_bytes(_with_ids(val, "V")), kind="examples")
    ws.close()
    cfg = root / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": {"base": str(tiny_base)},
        "train": {"steps": 4, "batch_size": 8, "warmup_steps": 0, "eval_every": 0,
                  "max_seq_len": 64, "lr": 0.02},
        "dp": {"enabled": True, "target_epsilon": 8.0, "accountant": "rdp",
               "expected_batch_size": 4, "max_examples_per_unit": 3, "noise_seed": 1,
               "multi_employee": "each"},  # shared examples in each unit (group size 3)
    }))
    return root, cfg


def test_dp_train_records_privacy_in_metadata_ledger_and_card(dp_ws, capsys):
    root, cfg = dp_ws
    ws_dir = str(root / "ws")
    assert run(["train", str(cfg), "-w", ws_dir]) == 0
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        meta = ws.vault.manifest("adapter@1").meta
        rows = [r for r, _ in ledger.entries(ws.access.check, ws.store)]
    p = meta["privacy"]
    assert set(p) >= PRIVACY_KEYS and p["dp"] is True
    assert p["unit"] == "employee" and p["accountant"] == "rdp" and p["steps"] == 4
    assert 0 < p["epsilon"] <= 8.0 and p["delta"] == pytest.approx(1e-5)  # min(1e-5, 1/(100*12))
    assert p["sampling_rate"] == pytest.approx(4 / 12) and p["max_co_units"] == 2
    assert meta["metrics"]["epsilon"] == p["epsilon"]
    assert [(r.dataset_ref, r.status) for r in rows] == [("trainset@1", "done")]
    assert rows[0].epsilon == pytest.approx(p["epsilon"])
    out = root / "export"
    assert run(["export", "adapter", "-o", str(out), "-w", ws_dir, "--unaudited"]) == 0
    card = (out / "README.md").read_text()
    assert "Differential privacy: yes" in card and f"{p['epsilon']}" in card
    assert "privacy unit `employee`" in card and "group privacy over 3 units" in card
    # each shared example puts a person's data in 3 units: the per-person epsilon is reported
    assert p["group_size"] == 3 and p["epsilon_person"] > p["epsilon"]
    assert meta["metrics"]["epsilon_person"] == p["epsilon_person"]
    assert f"Per person: epsilon {p['epsilon_person']}" in card
    capsys.readouterr()
    assert run(["dp", "ledger", "-w", ws_dir]) == 0
    assert "trainset@1" in capsys.readouterr().out


def test_budget_refuses_a_run_before_it_starts(dp_ws, capsys):
    root, cfg = dp_ws
    ws_dir = str(root / "ws")
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        (standing,) = ledger.spent(ws.access.check, ws.store, "trainset")
        spent = standing.epsilon
        n_runs = len(ws.store.session().__enter__().query(Run).all())
        versions = len([o for o in ws.vault.list() if o.name == "adapter"])
    assert run(["dp", "budget", "trainset", "--epsilon", str(spent + 1.0), "-w", ws_dir]) == 0
    capsys.readouterr()
    assert run(["train", str(cfg), "-w", ws_dir]) == 8  # 8 more would exceed it
    err = capsys.readouterr().err
    assert "privacy budget" in err and "trainset" in err and "not started" in err
    assert run(["train", str(cfg), "-w", ws_dir, "dp.enabled=false"]) == 8  # no DP at all
    assert "without differential privacy" in capsys.readouterr().err
    # a small run that fits is accepted
    assert run(["train", str(cfg), "-w", ws_dir, "dp.target_epsilon=0.9", "train.steps=1",
                "--name", "small"]) == 0
    with Workspace.open(ws_dir, api_key=ADMIN_KEY) as ws:
        (after,) = ledger.spent(ws.access.check, ws.store, "trainset")
        assert len([o for o in ws.vault.list() if o.name == "adapter"]) == versions
        assert len(ws.store.session().__enter__().query(Run).all()) == n_runs + 1
    assert spent < after.epsilon <= spent + 1.0 and after.runs == 2
    # the config may cap tighter than the workspace budget (delta 1e-3, the old default for 12
    # units, given explicitly: at the new default 1e-5 no sigma up to 500 reaches epsilon 0.05)
    assert run(["train", str(cfg), "-w", ws_dir, "dp.target_epsilon=0.05", "train.steps=1",
                "dp.delta=0.001", "dp.budget_epsilon=0.01"]) == 8


def test_dp_run_resumes_exactly(tiny_base, colour_data, tmp_path):
    from privtune.models.loading import load_local_model

    train, val = colour_data
    train = _with_ids(train, "T")
    spec = TrainSpec(steps=4, batch_size=8, warmup_steps=0, eval_every=0, max_seq_len=64,
                     lr=0.02, checkpoint_every=2)
    dp = DPSpec(enabled=True, noise_multiplier=0.8, accountant="rdp", expected_batch_size=4,
                max_examples_per_unit=2, noise_seed=3)

    def go(out, resume=None):
        model, tok = load_local_model(tiny_base)
        plan = make_plan(dp, [e["employee_ids"] for e in train], spec.steps)
        return train_lora(model, tok, train, val[:4], spec, out, resume=resume,
                          strategy=DPStepStrategy(plan))

    full, m1 = go(tmp_path / "full")
    resumed, m2 = go(tmp_path / "resumed", resume=tmp_path / "full" / "checkpoints" / "step-2")
    assert resumed.resumed_from_step == 2
    assert [r["units"] for r in full.history[1:]] == [r["units"] for r in resumed.history[1:]]
    for (n1, p1), (n2, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        if p1.requires_grad:
            assert n1 == n2
            assert (p1 - p2).abs().max().item() < 1e-6
    assert full.extra["privacy"]["steps"] == 4
