"""Workspace secrets kept beside the vault: ``DIR/keys/`` (0700), files 0600, not encrypted.

* ``workspace.key``: 32 random bytes; subkeys for keyed hashes are derived from it with
  HMAC-SHA256 and a label (``audit`` for hashes inside audit events, ``subject-index`` for the
  lineage subject index), so the two hash spaces cannot be joined.
* ``audit-signing.pem``: the Ed25519 key that signs audit-log checkpoints (PKCS#8 PEM).

They live outside the vault because the audit log must work before (and independently of) any
vault read, and reading the vault is itself an audited operation. Protection is file mode 0600
in a 0700 directory; wrapping them with the vault's key-encryption key is the next step once
the encrypted vault lands.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privtune.errors import WorkspaceError
from privtune.fsutil import atomic_write

KEYS_DIR = "keys"
SECRET_FILE = "workspace.key"  # noqa: S105  (a file name, not a secret)
SIGNING_FILE = "audit-signing.pem"


def create_keys(root: Path) -> None:
    d = Path(root) / KEYS_DIR
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    atomic_write(d / SECRET_FILE, secrets.token_bytes(32), mode=0o600)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    atomic_write(d / SIGNING_FILE, pem, mode=0o600)


def _read(root: Path, name: str) -> bytes:
    path = Path(root) / KEYS_DIR / name
    try:
        return path.read_bytes()
    except OSError:
        raise WorkspaceError(f"workspace key file {path} is missing or unreadable") from None


def subkey(root: Path, label: str) -> bytes:
    return hmac.digest(_read(root, SECRET_FILE), b"privtune/" + label.encode(), "sha256")


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def signing_key(root: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(_read(root, SIGNING_FILE), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise WorkspaceError("audit signing key is not an Ed25519 key")
    return key


def public_key(root: Path) -> Ed25519PublicKey:
    return signing_key(root).public_key()
