"""Registered adapters, read from the vault: the adapter's record, its base checked by hash, and
base + adapter loaded for inference inside the network guard.

An adapter is a vault object (``adapter@N``, schema ``peft-lora``) whose manifest ``meta`` is an
:class:`~privtune.records.AdapterRecord`. Opening it checks that the base model directory still
hashes to what it was trained on, unpacks the adapter into a private temp dir and loads base +
adapter. The gate audits through it; the pipeline's chat, batch and export commands open it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtune.errors import InputError, IntegrityError, WorkspaceError
from privtune.models.loading import model_dir_hash
from privtune.netguard import network_guard
from privtune.records import AdapterRecord
from privtune.tmp import private_tempdir
from privtune.vault import Vault

ADAPTER_SCHEMA = "peft-lora"


@dataclass(frozen=True)
class AdapterInfo:
    ref: str
    base_dir: Path
    record: AdapterRecord

    @property
    def base_sha256(self) -> str:
        return self.record.base_model_sha256


def adapter_record(vault: Vault, ref: str) -> tuple[str, AdapterRecord]:
    """``(resolved ref, record)`` of a LoRA adapter, or :class:`InputError` if it is not one."""
    m = vault.manifest(ref)
    if m.schema != ADAPTER_SCHEMA:
        raise InputError(f"'{m.ref}' is not a LoRA adapter")
    return m.ref, AdapterRecord.from_dict(m.meta)


def adapter_info(vault: Vault, ref: str, base: Path | None = None) -> AdapterInfo:
    """The adapter's record and its base directory, checked against the recorded hash."""
    ref, record = adapter_record(vault, ref)
    base_dir = Path(base) if base is not None else Path(record.base_model)
    if not base_dir.is_dir():
        raise WorkspaceError(f"the base model of '{ref}' is not at {base_dir}; pass --base DIR")
    if model_dir_hash(base_dir) != record.base_model_sha256:
        raise IntegrityError(f"the base model at {base_dir} is not the one '{ref}' was "
                             "trained on (hash differs)")
    return AdapterInfo(ref, base_dir, record)


@contextlib.contextmanager
def open_adapter(vault: Vault, ref: str, base: Path | None = None
                 ) -> Iterator[tuple[Any, Any, AdapterInfo]]:
    """``(model, tokenizer, info)`` of base + adapter, eval mode, inside the network guard."""
    from privtune.train.generate import load_adapter

    info = adapter_info(vault, ref, base)
    with network_guard(), private_tempdir("adapter") as tmp:
        d = vault.get_dir(info.ref, tmp / "adapter")
        model, tok = load_adapter(info.base_dir, d)
        yield model, tok, info
