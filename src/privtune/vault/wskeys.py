"""Workspace secrets kept beside the vault in ``DIR/keys/`` (0700, files 0600), wrapped by the KEK.

* ``workspace.key``: 32 random bytes; subkeys are derived from it with HMAC-SHA256 and a label
  (``audit`` for hashes inside audit events, ``subject-index`` for the lineage subject index,
  ``row-mac`` for the metadata rows' MACs, see ``privtune.store.rowmac``), so the hash spaces
  cannot be joined.
* ``audit-signing.key``: the Ed25519 private key that signs audit-log checkpoints (32 raw bytes).

Neither is ever on disk in clear: each file holds the key wrapped by the vault's keyring, like a
data key (AES-256-GCM under a passphrase or key-file KEK; the Transit engine when the KEK is in
Transit), with the vault id and the file name as associated data, so a file copied from another
workspace or renamed does not unwrap. Reading one therefore needs the unlocked KEK: whoever can
only read files learns nothing (cannot compute the subject index's hash of an employee id).
``Keyring.rotate`` re-wraps them with the data keys (``WorkspaceKeys`` is one of the keyring's
``holders``), and ``Keyring.retire`` refuses a version that still wraps one.

The audit log's *public* key is not secret: ``init`` pins it in ``privtune.yaml``
(``audit_public_key``) and prints its fingerprint; ``audit-log verify`` checks signatures with
the pinned key only (``public_key_text`` / ``load_public_key`` / ``fingerprint``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privtune.errors import IntegrityError, KeyMissing, WorkspaceError
from privtune.fsutil import atomic_write

if TYPE_CHECKING:
    from privtune.vault.keyring import Keyring

KEYS_DIR = "keys"
SECRET_FILE = "workspace.key"  # noqa: S105  (a file name, not a secret)
SIGNING_FILE = "audit-signing.key"
LEGACY_SIGNING_FILE = "audit-signing.pem"  # before schema 3: a clear PKCS#8 PEM
WRAPPED_FORMAT = "privtune-wrapped-key/1"
KEY_FILES = (SECRET_FILE, SIGNING_FILE)
#: The subkey labels (one hash space each).
AUDIT_LABEL, SUBJECT_LABEL, ROW_MAC_LABEL = "audit", "subject-index", "row-mac"


def _aad(keyring: Keyring, name: str) -> bytes:
    return f"{keyring.vault_id}:{KEYS_DIR}/{name}".encode()


def _write_wrapped(root: Path, keyring: Keyring, name: str, plain: bytes) -> None:
    version, blob = keyring.wrap(plain, _aad(keyring, name))
    doc = {"format": WRAPPED_FORMAT, "name": name, "kek_version": version,
           "wrapped": base64.b64encode(blob).decode("ascii")}
    atomic_write(Path(root) / KEYS_DIR / name, json.dumps(doc, sort_keys=True).encode(), mode=0o600)


def _read_doc(root: Path, name: str) -> dict:
    path = Path(root) / KEYS_DIR / name
    try:
        raw = path.read_bytes()
    except OSError:
        raise KeyMissing(f"workspace key file {KEYS_DIR}/{name} is missing or unreadable") from None
    try:
        doc = json.loads(raw)
        ok = (isinstance(doc, dict) and doc.get("format") == WRAPPED_FORMAT and doc.get("name") == name
              and isinstance(doc.get("kek_version"), int) and isinstance(doc.get("wrapped"), str))
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise IntegrityError(f"workspace key file {KEYS_DIR}/{name} is not a wrapped key "
                             f"(damaged, or left in clear by an older privtune)")
    return doc


def _ensure_dir(root: Path) -> Path:
    d = Path(root) / KEYS_DIR
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def create_keys(root: Path, keyring: Keyring) -> Ed25519PublicKey:
    """Make the workspace secret and the audit signing key, wrapped under the active KEK.

    Returns the signing key's public half (to be pinned in the workspace config)."""
    _ensure_dir(root)
    _write_wrapped(root, keyring, SECRET_FILE, secrets.token_bytes(32))
    signer = Ed25519PrivateKey.generate()
    _write_wrapped(root, keyring, SIGNING_FILE, _raw_private(signer))
    return signer.public_key()


def wrap_legacy_keys(root: Path, keyring: Keyring) -> Ed25519PublicKey | None:
    """Schema 2 -> 3: wrap clear key files in place (the clear ones are removed).

    Returns the signing key's public half when a clear signing key was wrapped, else None."""
    d = _ensure_dir(root)
    secret_path = d / SECRET_FILE
    if secret_path.is_file():
        raw = secret_path.read_bytes()
        if len(raw) == 32:  # a clear secret (a wrapped one is a JSON document)
            _write_wrapped(root, keyring, SECRET_FILE, raw)
    pem_path = d / LEGACY_SIGNING_FILE
    if not pem_path.is_file():
        return None
    key = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise WorkspaceError(f"{KEYS_DIR}/{LEGACY_SIGNING_FILE} is not an Ed25519 key")
    _write_wrapped(root, keyring, SIGNING_FILE, _raw_private(key))
    pem_path.unlink()
    return key.public_key()


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def derive(secret: bytes, label: str) -> bytes:
    return hmac.digest(secret, b"privtune/" + label.encode(), "sha256")


# ------------------------------------------------------------------ public key pinning
def public_key_text(pub: Ed25519PublicKey) -> str:
    """The pinned form: base64 of the 32 raw public-key bytes."""
    return base64.b64encode(pub.public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey | None:
    """The pinned key, or None when ``text`` is empty or not a 32-byte Ed25519 key."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32:
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def fingerprint(pub: Ed25519PublicKey) -> str:
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


# ------------------------------------------------------------------ the workspace's keys
class WorkspaceKeys:
    """The keys under ``root/keys``, unwrapped on first use with the (unlocked) keyring.

    ``keyring`` is a callable returning the vault's Keyring (it is made lazily by the Vault).
    Unwrapped keys are kept in memory for the life of this object, never written anywhere.
    """

    def __init__(self, root: Path, keyring: Callable[[], Keyring]) -> None:
        self.root = Path(root)
        self._keyring = keyring
        self._plain: dict[str, bytes] = {}

    def _unwrap(self, name: str) -> bytes:
        if name not in self._plain:
            doc = _read_doc(self.root, name)
            keyring = self._keyring()
            try:
                blob = base64.b64decode(doc["wrapped"], validate=True)
            except (binascii.Error, ValueError):
                raise IntegrityError(f"workspace key file {KEYS_DIR}/{name} is damaged") from None
            try:
                plain = keyring.unwrap(doc["kek_version"], blob, _aad(keyring, name))
            except IntegrityError:
                raise IntegrityError(f"workspace key file {KEYS_DIR}/{name} failed authentication "
                                     "(damaged, or copied from another workspace)") from None
            self._plain[name] = plain
        return self._plain[name]

    def secret(self) -> bytes:
        return self._unwrap(SECRET_FILE)

    def subkey(self, label: str) -> bytes:
        return derive(self.secret(), label)

    def signing_key(self) -> Ed25519PrivateKey:
        raw = self._unwrap(SIGNING_FILE)
        if len(raw) != 32:
            raise IntegrityError(f"workspace key file {KEYS_DIR}/{SIGNING_FILE} is not an Ed25519 key")
        return Ed25519PrivateKey.from_private_bytes(raw)

    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key().public_key()

    # The keyring's holder protocol (privtune.vault.keyring.WrappedHolder).
    def kek_versions(self) -> set[int]:
        out = set()
        for name in KEY_FILES:
            if (self.root / KEYS_DIR / name).is_file():
                out.add(int(_read_doc(self.root, name)["kek_version"]))
        return out

    def rewrap(self, keyring: Keyring, version: int) -> int:
        """Re-wrap every key file under KEK ``version`` (after ``rotate``); returns how many."""
        count = 0
        for name in KEY_FILES:
            if not (self.root / KEYS_DIR / name).is_file():
                continue
            doc = _read_doc(self.root, name)
            if doc["kek_version"] == version:
                continue
            plain = self._unwrap(name)
            _write_wrapped(self.root, keyring, name, plain)
            count += 1
        return count
