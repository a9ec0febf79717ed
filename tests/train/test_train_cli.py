"""`privtune train` / `generate` / `chat` / `export` end to end on a small workspace."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from privtune.cli.main import run
from privtune.io import jsonl_bytes
from privtune.models.loading import load_local_model, model_dir_hash
from privtune.train.evaluate import eval_loss
from privtune.workspace import Workspace, init_workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

pytestmark = pytest.mark.slow


def _with_ids(examples, prefix):
    return [{**ex, "employee_ids": [f"{prefix}{i % 7}"]} for i, ex in enumerate(examples)]


@pytest.fixture(scope="module")
def trained_ws(tiny_base, colour_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    ws = init_workspace(root / "ws")
    train, val = colour_data
    ws.vault.put("trainset", jsonl_bytes(_with_ids(train, "T")), kind="examples")
    ws.vault.put("valset", jsonl_bytes(_with_ids(val, "V")), kind="examples")
    ws.close()
    cfg = root / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": {"base": str(tiny_base)},
        "train": {"steps": 6, "batch_size": 4, "warmup_steps": 1, "eval_every": 3,
                  "checkpoint_every": 3, "max_seq_len": 64},
        "dp": {"enabled": False},  # DP runs: tests/train/test_train_dp.py
    }))
    code = run(["train", str(cfg), "-w", str(root / "ws"), "train.lr=0.01"])
    return root, cfg, code


def test_train_registers_the_adapter_with_its_lineage(trained_ws, tiny_base):
    root, _, code = trained_ws
    assert code == 0
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        m = ws.vault.manifest("adapter")
        ckpts = [o for o in ws.vault.list() if o.name.startswith("ckpt-")]
    assert m.ref == "adapter@1" and m.schema == "peft-lora"
    meta = m.meta
    assert meta["base_model_sha256"] == model_dir_hash(tiny_base)
    assert (meta["train_data"], meta["val_data"]) == ("trainset@1", "valset@1")
    assert meta["privacy"] == {"dp": False}
    assert meta["train"]["lr"] == 0.01 and meta["train"]["steps"] == 6
    figs = meta["metrics"]
    assert figs["final_val_loss"] < figs["initial_val_loss"] and figs["precision"] == "fp32"
    assert [c.schema for c in ckpts] == ["privtune-train-checkpoint"]
    assert ckpts[0].meta["step"] == 3 and meta["checkpoints"] == [ckpts[0].ref]
    runs = list((root / "ws" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "metrics.jsonl").is_file()


def test_resume_from_a_vault_checkpoint(trained_ws):
    root, cfg, _ = trained_ws
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        ck = next(o.ref for o in ws.vault.list() if o.name.startswith("ckpt-"))
    assert run(["train", str(cfg), "-w", str(root / "ws"), "train.lr=0.01",
                f"train.resume_from={ck}", "--name", "resumed"]) == 0
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        a, b = ws.vault.manifest("adapter@1").meta, ws.vault.manifest("resumed@1").meta
    assert b["resumed_from"] == ck and b["metrics"]["resumed_from_step"] == 3
    assert b["metrics"]["final_val_loss"] == pytest.approx(a["metrics"]["final_val_loss"], abs=1e-4)
    code = run(["train", str(cfg), "-w", str(root / "ws"), "train.lr=0.02",
                f"train.resume_from={ck}"])
    assert code == 2  # lr differs from the checkpoint's (the pipeline default is now 0.01)


def test_malformed_config_names_the_key_and_allowed_values(trained_ws, capsys):
    root, cfg, _ = trained_ws
    capsys.readouterr()
    assert run(["train", str(cfg), "-w", str(root / "ws"), "train.lora.rank=4"]) == 2
    err = capsys.readouterr().err
    assert "train.lora.rank" in err and "alpha, dropout, r, target_modules" in err
    assert run(["train", str(cfg), "-w", str(root / "ws"), "train.schedule=step"]) == 2
    err = capsys.readouterr().err
    assert "train.schedule" in err and "'cosine', 'linear' or 'constant'" in err
    assert run(["train", str(cfg), "-w", str(root / "ws"), "train.privacy.dp=true"]) == 2
    assert "train.privacy" in capsys.readouterr().err  # DP has its own section, dp:
    assert run(["train", str(cfg), "-w", str(root / "ws"), "dp.unit=person"]) == 2
    assert "dp.unit" in capsys.readouterr().err


def test_generate_and_chat(trained_ws, capsys, monkeypatch):
    root, _, _ = trained_ws
    prompts = root / "prompts.txt"
    prompts.write_text("What is the colour of item 3?\n\nWhat is the colour of item 4?\n")
    out = root / "answers.jsonl"
    assert run(["generate", "adapter", "--prompts", str(prompts), "--out", str(out),
                "-w", str(root / "ws"), "--max-new-tokens", "6"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1] and all(isinstance(r["answer"], str) for r in rows)
    # each answer says which prompt it answers
    assert [r["prompt"] for r in rows] == ["What is the colour of item 3?",
                                           "What is the colour of item 4?"]
    bad = root / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"nope": 1}\n')
    assert run(["generate", "adapter", "--prompts", str(bad), "-w", str(root / "ws")]) == 2
    assert "row 2" in capsys.readouterr().err
    said = iter(["What is the colour of item 5?", "/reset", "Item 6?", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(said))
    assert run(["chat", "adapter@1", "-w", str(root / "ws"), "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.count("model>") == 2


def _front_matter(readme: Path) -> dict:
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_adapter_only_and_merged(trained_ws, tiny_base, colour_data):
    root, _, _ = trained_ws
    ws_dir = str(root / "ws")
    a = root / "export-adapter"
    assert run(["export", "adapter", "-o", str(a), "-w", ws_dir, "--unaudited"]) == 0
    assert sorted(p.name for p in a.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors"]
    fm = _front_matter(a / "README.md")
    assert fm["library_name"] == "peft" and fm["base_model"] == tiny_base.name
    assert "privtune" in fm["tags"] and "lora" in fm["tags"]
    card = (a / "README.md").read_text()
    assert "## Privacy" in card and "Differential privacy: no" in card and "trainset@1" in card
    assert run(["export", "adapter", "-o", str(a), "-w", ws_dir, "--unaudited"]) == 2  # not empty: refused
    m = root / "export-merged"
    assert run(["export", "adapter", "--merged", "-o", str(m), "-w", ws_dir, "--unaudited"]) == 0
    assert _front_matter(m / "README.md")["library_name"] == "transformers"
    assert not (root / "export-merged.partial").exists()
    merged, tok = load_local_model(m)
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        want = ws.vault.manifest("adapter").meta["metrics"]["final_val_loss"]
    val = _with_ids(colour_data[1], "V")
    assert eval_loss(merged, tok, val, 64) == pytest.approx(want, abs=1e-3)
