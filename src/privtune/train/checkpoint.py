"""Resumable training checkpoints: everything needed to continue a run exactly.

A checkpoint is a directory (stored in the vault as ``ckpt-<run>@N`` by the pipeline):

* ``adapter.safetensors`` - the trainable (LoRA) parameters by name;
* ``trainer_state.pt`` - optimizer and scheduler state, the sampler's generator and pending
  indices (the data order), early-stopping state and every RNG state (torch CPU/CUDA, Python,
  NumPy), loaded back with ``torch.load(weights_only=True)`` (no code runs on load). A DP run
  with secure randomness (the step strategy is not ``seeded``) stores no RNG state and no seed
  at all: its resumption draws fresh randomness (sound for Poisson sampling) and continues
  the privacy accounting, but does not repeat the interrupted run's batches;
* ``checkpoint.json`` - the step, the resolved train spec, the metric history so far, a
  fingerprint of the training data and caller metadata (e.g. the base model's hash).

Resuming a seeded run from it with the same spec and data reproduces the uninterrupted run's
losses (on the same machine and thread count, bit for bit in practice; tests allow a small
tolerance).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from privtune.errors import ConfigError, InputError, IntegrityError
from privtune.fsutil import atomic_write_text

ADAPTER_FILE = "adapter.safetensors"
STATE_FILE = "trainer_state.pt"
META_FILE = "checkpoint.json"
FORMAT = 1
#: Spec keys that may differ between the interrupted run and its resumption.
RESUME_FREE_KEYS = frozenset({"resume_from", "checkpoint_every", "metrics", "device",
                              "eval_batch_size", "nproc"})


@dataclass
class Checkpoint:
    step: int
    spec: dict[str, Any]
    history: list[dict[str, float]]
    data_fingerprint: str
    adapter: dict[str, torch.Tensor]
    state: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, gauss),
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))


def data_fingerprint(sequences: list[list[int]]) -> str:
    """sha256 over the token ids of the encoded training examples (in order)."""
    h = hashlib.sha256()
    for ids in sequences:
        h.update(np.asarray(ids, dtype=np.int64).tobytes() + b"|")
    return h.hexdigest()


def save_checkpoint(directory: Path, ckpt: Checkpoint) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to("cpu").contiguous() for k, v in ckpt.adapter.items()},
              str(directory / ADAPTER_FILE))
    torch.save(ckpt.state, directory / STATE_FILE)
    meta = {"format": FORMAT, "step": ckpt.step, "spec": ckpt.spec, "history": ckpt.history,
            "data_fingerprint": ckpt.data_fingerprint, "meta": ckpt.meta}
    atomic_write_text(directory / META_FILE, json.dumps(meta))  # written last: completeness
    return directory


def load_checkpoint(directory: Path) -> Checkpoint:
    directory = Path(directory)
    for name in (META_FILE, ADAPTER_FILE, STATE_FILE):
        if not (directory / name).is_file():
            raise InputError(f"not a training checkpoint: {name} is missing", path=directory)
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        adapter = load_file(str(directory / ADAPTER_FILE))
        state = torch.load(directory / STATE_FILE, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise IntegrityError(f"training checkpoint is damaged ({type(exc).__name__})") from None
    if meta.get("format") != FORMAT:
        raise InputError("unsupported checkpoint format", path=directory)
    return Checkpoint(step=int(meta["step"]), spec=meta["spec"], history=meta["history"],
                      data_fingerprint=meta["data_fingerprint"], adapter=adapter, state=state,
                      meta=meta.get("meta", {}))


def check_resumable(ckpt: Checkpoint, spec: dict[str, Any], fingerprint: str) -> None:
    """The run being resumed must have the same settings (but for RESUME_FREE_KEYS) and data."""
    for key in sorted(set(spec) | set(ckpt.spec)):
        if key in RESUME_FREE_KEYS:
            continue
        if spec.get(key) != ckpt.spec.get(key):
            raise ConfigError(f"train.{key} differs from the checkpoint's; a resumed run needs "
                              "the settings it was started with", key=f"train.{key}")
    if fingerprint != ckpt.data_fingerprint:
        raise InputError("the training data differs from the data the checkpoint was trained on")
    if ckpt.step >= int(spec["steps"]):
        raise ConfigError(f"the checkpoint is at step {ckpt.step}, nothing left to train "
                          f"(train.steps={spec['steps']})", key="train.steps")
