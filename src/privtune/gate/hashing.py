"""The adapter hash: SHA-256 over the adapter's files (name and content), the same whether the
adapter is unpacked from the vault or sits in a release directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from privtune.errors import IntegrityError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def adapter_hash(directory: Path) -> str:
    h = hashlib.sha256()
    for name in ADAPTER_FILES:
        p = Path(directory) / name
        if not p.is_file():
            raise IntegrityError(f"adapter file {name} is missing from {directory}")
        h.update(name.encode() + b"\x00" + file_sha256(p).encode() + b"\n")
    return h.hexdigest()
