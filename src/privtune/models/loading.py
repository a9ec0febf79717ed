"""Load a causal LM and its tokenizer from a local Hugging Face directory, never from a hub.

A model directory is what ``save_pretrained`` writes: ``config.json``, the weights as
safetensors (``model.safetensors`` or shards + ``model.safetensors.index.json``) and the
tokenizer files. The tiny base model and a downloaded Mistral-7B directory take the same path
through :func:`load_local_model`. A string that is not an existing directory (for instance a hub
id such as ``mistralai/Mistral-7B-v0.1``) is refused before ``transformers`` sees it, and
``local_files_only=True`` is passed on every load, so nothing can reach the network.

Pickled ``*.bin`` weights are refused (``use_safetensors=True``): loading them runs code.

:func:`model_dir_hash` gives a content hash of a model directory for lineage records.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from privtune.errors import InputError
from privtune.netguard import enable_offline_mode

# Files whose bytes define a model for lineage: its architecture, weights and tokenizer.
_HASHED_NAMES = (
    "config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "chat_template.jinja",
)
_CHUNK = 1 << 20


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence transformers' tqdm bars while loading/saving (callers show their own progress)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _weight_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.name.endswith(".safetensors"))


def check_model_dir(path: str | Path) -> Path:
    """Return ``path`` as a :class:`Path` if it is a local HF model directory, else InputError."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(
            "models load only from a local directory (no such directory; hub ids are not accepted)",
            path=p,
        )
    if not (p / "config.json").is_file():
        raise InputError("not a model directory: config.json is missing", path=p)
    if not _weight_files(p):
        if any(p.glob("*.bin")):
            raise InputError(
                "weights are pickled (*.bin); only safetensors weights are loaded", path=p
            )
        raise InputError("not a model directory: no *.safetensors weight file", path=p)
    return p


def load_local_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in ``path`` (``local_files_only=True``); a pad token is ensured."""
    enable_offline_mode()
    p = Path(path)
    if not p.is_dir():
        raise InputError("tokenizers load only from a local directory", path=p)
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load the tokenizer ({type(exc).__name__})", path=p) from None
    if tok.pad_token is None:
        # Mistral-7B ships without a pad token; padding positions are masked out anyway.
        tok.pad_token = tok.unk_token or tok.eos_token
    if tok.chat_template is None:
        raise InputError("the tokenizer has no chat template", path=p)
    return tok


def load_local_model(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` from a local model directory, on the CPU, in ``dtype``.

    Raises :class:`InputError` naming ``path`` when it is not an existing directory holding
    ``config.json`` and safetensors weights. The model is returned in eval mode; moving it to a
    device is the caller's job (after wrapping with PEFT, when fine-tuning).
    """
    enable_offline_mode()
    p = check_model_dir(path)
    tokenizer = load_local_tokenizer(p)
    try:
        with quiet_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(
                str(p), local_files_only=True, use_safetensors=True, dtype=dtype
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot load the model ({type(exc).__name__})", path=p) from None
    model.eval()
    return model, tokenizer


def model_dir_hash(path: str | Path) -> str:
    """sha256 (hex) over a model directory's config, weight and tokenizer files.

    Each file contributes its name, its size and its bytes, in sorted order, so renaming or
    changing any of them changes the hash. Other files (README, generation_config.json,
    privtune's own metadata) do not count.
    """
    p = check_model_dir(path)
    files = [p / n for n in _HASHED_NAMES if (p / n).is_file()]
    files += _weight_files(p)
    files += sorted(q for q in p.glob("*.safetensors.index.json") if q.is_file())
    h = hashlib.sha256()
    for f in sorted(set(files), key=lambda q: q.name):
        h.update(f.name.encode("utf-8") + b"\0" + str(f.stat().st_size).encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()
