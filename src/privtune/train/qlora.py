"""QLoRA: the base model loaded in 4-bit NF4 through bitsandbytes, LoRA trained on top.

Only on a CUDA GPU (bitsandbytes' 4-bit kernels need one) and with the ``qlora`` extra
installed; otherwise a :class:`~privtune.errors.ResourceError` says what is missing, before
anything is loaded. Compute runs in bf16 where the GPU supports it, else fp16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from privtune.errors import InputError, ResourceError
from privtune.models.loading import check_model_dir, load_local_tokenizer, quiet_progress_bars
from privtune.netguard import enable_offline_mode


def check_qlora_available() -> None:
    """ResourceError unless a CUDA GPU and bitsandbytes are both present."""
    if not torch.cuda.is_available():
        raise ResourceError("QLoRA (train.quantization=4bit) needs a CUDA GPU and none is "
                            "available; use train.quantization=none for LoRA on this machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ResourceError("QLoRA needs bitsandbytes: pip install 'privtune[qlora]'") from None


def load_quantized(path: str | Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` with the base weights in 4-bit NF4 on GPU 0."""
    check_qlora_available()
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    enable_offline_mode()
    p = check_model_dir(path)
    tokenizer = load_local_tokenizer(p)
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                             bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
    try:
        with quiet_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(
                str(p), local_files_only=True, use_safetensors=True, quantization_config=bnb,
                device_map={"": 0}, dtype=compute)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot load the model in 4-bit ({type(exc).__name__})", path=p) from None
    return model, tokenizer
