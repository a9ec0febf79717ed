"""What a fine-tuning run needs before the model is built: encoded examples, hardware, checkpoint.

:func:`prepare_inputs` encodes the training and validation examples
(:mod:`~privtune.train.data`), fingerprints the training data, resolves device and precision
(:mod:`~privtune.train.hardware`) and loads the checkpoint to resume from, refusing one made
with another spec or other data (:mod:`~privtune.train.checkpoint`). Everything here can fail
on bad input, so it runs before the model is wrapped with LoRA.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from privtune.errors import InputError
from privtune.train.checkpoint import (
    Checkpoint,
    check_resumable,
    data_fingerprint,
    load_checkpoint,
)
from privtune.train.data import Encoded, encode_examples
from privtune.train.hardware import Precision, resolve_device, resolve_precision
from privtune.train.spec import TrainSpec, written_spec


@dataclass(frozen=True)
class TrainInputs:
    started: float  # time.perf_counter() when the run began
    train: list[Encoded]
    val: list[Encoded]
    dropped_train: int  # examples whose answer was cut off entirely by max_seq_len
    dropped_val: int
    fingerprint: str
    device: torch.device
    precision: Precision
    pad_id: int
    spec_dump: dict[str, Any]
    checkpoint: Checkpoint | None


def _encode(tokenizer: Any, examples: list[dict[str, Any]], spec: TrainSpec,
            what: str) -> tuple[list[Encoded], int]:
    if not examples:
        raise InputError(f"no {what} examples given")
    encoded, dropped = encode_examples(tokenizer, examples, spec.max_seq_len)
    if not encoded:
        raise InputError(
            f"no {what} example keeps an answer token within max_seq_len={spec.max_seq_len}")
    return encoded, dropped


def prepare_inputs(tokenizer: Any, train: list[dict[str, Any]], val: list[dict[str, Any]],
                   spec: TrainSpec, resume: Path | None = None, *,
                   seeded: bool = True) -> TrainInputs:
    """Encode, resolve the hardware and load (and check) the checkpoint in ``resume``.
    ``seeded=False`` (DP with secure randomness): the spec kept and compared has no ``seed``."""
    started = time.perf_counter()
    train_enc, dropped_train = _encode(tokenizer, train, spec, "training")
    val_enc, dropped_val = _encode(tokenizer, val, spec, "validation")
    fingerprint = data_fingerprint([e.input_ids for e in train_enc])
    device = resolve_device(spec.device)
    precision = resolve_precision(spec.precision, device)
    spec_dump = written_spec(spec, seeded)
    ckpt = load_checkpoint(resume) if resume is not None else None
    if ckpt is not None:
        check_resumable(ckpt, spec_dump, fingerprint)
    return TrainInputs(started, train_enc, val_enc, dropped_train, dropped_val, fingerprint,
                       device, precision, tokenizer.pad_token_id, spec_dump, ckpt)
