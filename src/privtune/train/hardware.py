"""Hardware detection and the precision rules of fine-tuning.

* ``device``: ``auto`` picks CUDA when present, else the CPU; ``cuda`` without a GPU is a
  :class:`~privtune.errors.ResourceError`.
* ``precision``: ``auto`` means bf16 autocast on a CUDA GPU that supports it, fp16 autocast
  (with a gradient scaler) on one that does not, and plain fp32 on the CPU. An explicit ``bf16``
  is refused on a CPU (or GPU) that lacks bf16 support; ``fp16`` is refused on the CPU. Master
  weights and the LoRA parameters always stay fp32; autocast only lowers the matmuls.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from privtune.errors import ResourceError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ResourceError."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ResourceError("device 'cuda' requested but no CUDA GPU is available")
        return torch.device("cuda")
    return torch.device("cpu")


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 instructions (AVX512-BF16 / AMX / ARM BF16)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_supports_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@dataclass(frozen=True)
class Precision:
    """The resolved precision: ``dtype`` is the autocast dtype (``None`` = fp32, no autocast)."""

    name: str
    dtype: torch.dtype | None
    device_type: str

    @property
    def needs_scaler(self) -> bool:
        return self.dtype is torch.float16

    def autocast(self) -> Any:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """Apply the rules of the module docstring; ResourceError when the hardware cannot."""
    cuda = device.type == "cuda"
    if precision == "fp32" or (precision == "auto" and not cuda):
        return Precision("fp32", None, device.type)
    if precision == "auto":
        return (Precision("bf16", torch.bfloat16, "cuda") if cuda_supports_bf16()
                else Precision("fp16", torch.float16, "cuda"))
    if precision == "bf16":
        if cuda and not cuda_supports_bf16():
            raise ResourceError("precision bf16 requested but this GPU has no bf16 support; "
                                "use precision=fp16 or precision=auto")
        if not cuda and not cpu_supports_bf16():
            raise ResourceError("precision bf16 requested but this CPU has no native bf16 "
                                "support; use precision=fp32 (or auto)")
        return Precision("bf16", torch.bfloat16, device.type)
    if precision == "fp16":
        if not cuda:
            raise ResourceError("precision fp16 needs a CUDA GPU; on the CPU use fp32 (or auto)")
        return Precision("fp16", torch.float16, "cuda")
    raise ResourceError(f"unknown precision '{precision}'; allowed: auto, fp32, bf16, fp16")
