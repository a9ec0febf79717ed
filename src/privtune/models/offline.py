"""Offline mode for the Hugging Face stack.

privtune never talks to a model hub: every model, tokenizer and adapter comes from a local
directory. :func:`enable_offline_mode` sets the environment variables that make
``huggingface_hub``, ``transformers`` and ``datasets`` refuse network access (and turn off
telemetry). Call it before loading anything; calling it again is harmless.
"""

from __future__ import annotations

import os

OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def enable_offline_mode() -> None:
    """Set the Hugging Face offline/telemetry variables in ``os.environ`` (idempotent).

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` into a module constant at import time, so the
    constant is patched as well when the library is already imported.
    """
    os.environ.update(OFFLINE_ENV)
    try:  # pragma: no cover - depends on import order
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
        constants.HF_HUB_DISABLE_TELEMETRY = True
    except Exception:
        pass


def is_offline() -> bool:
    """True when every offline variable is set to ``"1"``."""
    return all(os.environ.get(k) == v for k, v in OFFLINE_ENV.items())
