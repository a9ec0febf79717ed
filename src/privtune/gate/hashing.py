"""The adapter hash: SHA-256 over the adapter's files (name and content), the same whether the
adapter is unpacked from the vault, sits in a release directory or is held in memory (serving)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from privtune.errors import IntegrityError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def combined_hash(digests: Mapping[str, str]) -> str:
    """The adapter hash from each adapter file's SHA-256 (hex), in ``ADAPTER_FILES`` order."""
    h = hashlib.sha256()
    for name in ADAPTER_FILES:
        h.update(name.encode() + b"\x00" + digests[name].encode() + b"\n")
    return h.hexdigest()


def adapter_hash(directory: Path) -> str:
    digests = {}
    for name in ADAPTER_FILES:
        p = Path(directory) / name
        if not p.is_file():
            raise IntegrityError(f"adapter file {name} is missing from {directory}")
        digests[name] = file_sha256(p)
    return combined_hash(digests)
