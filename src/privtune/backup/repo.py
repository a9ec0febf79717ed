"""A backup repository: encrypted, content-addressed chunks, signed snapshots, a key escrow.

Layout of ``DIR`` (docs/operations.md, "Backups")::

    DIR/config.json            format, repo id, Argon2id salt and cost, the master key wrapped
                               under the passphrase, the pinned Ed25519 public key of the
                               workspace whose snapshots it holds; MAC'd under the master key
    DIR/chunks/ab/<id>         one chunk: nonce || AES-256-GCM(flag || payload), AAD = id;
                               id = HMAC-SHA256(id key, plaintext) (keyed: ids do not reveal
                               hashes of known content); payload zlib-compressed when a 64 KiB sample compresses
    DIR/snapshots/<id>.snap    one snapshot: the manifest encrypted (AES-256-GCM) and signed
                               (Ed25519, the workspace's audit signing key)
    DIR/escrow.bin             the key escrow: the wrapped data key of every object version the
                               snapshots hold, encrypted under the master key; **the only copy
                               of those keys in the repository** (a snapshot's database has its
                               ``data_keys.wrapped`` blanked), and the one mutable file:
                               crypto-shredding removes a version's key from it

The passphrase (``PRIVTUNE_BACKUP_PASSPHRASE`` or a prompt) unwraps a random 256-bit master key;
subkeys for chunk encryption, chunk ids, the config MAC and the escrow are derived from it with
HKDF. A chunk or a snapshot written by a process killed half-way is a ``.tmp-*`` file that is
never read (``privtune.fsutil.atomic_file``): a snapshot exists only once its file is renamed
into place, after every chunk it names and the escrow were written and fsynced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privtune.errors import InputError, IntegrityError, NotFoundError, WrongKey
from privtune.fsutil import atomic_file, atomic_write, private_dir
from privtune.vault.kek import argon2id, kdf_params, read_passphrase

FORMAT = "privtune-backup/1"
ENV_BACKUP_PASSPHRASE = "PRIVTUNE_BACKUP_PASSPHRASE"  # noqa: S105  (a variable's name)
CHUNK_SIZE = 1 << 20
SAMPLE = 1 << 16
CONFIG = "config.json"
ESCROW = "escrow.bin"
SNAP_RE = re.compile(r"(\d{8}T\d{12}Z-[0-9a-f]{8})\.snap")
ID_RE = re.compile(r"[0-9a-f]{64}")
_RAW, _ZLIB = b"\x00", b"\x01"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        raise IntegrityError(f"backup {what} is damaged") from None


def _canon(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def public_text(pub: Ed25519PublicKey) -> str:
    return _b64(pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@dataclass
class Escrow:
    """``keys[ref][kek_version] = wrapped data key``; ``shredded``: refs whose keys were removed."""

    generation: int = 0
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    shredded: set[str] = field(default_factory=set)

    def add(self, ref: str, kek_version: int, wrapped: bytes) -> None:
        if ref not in self.shredded:
            self.keys.setdefault(ref, {})[str(kek_version)] = _b64(wrapped)

    def shred(self, ref: str) -> bool:
        """Remove every wrapped key of ``ref``; True if one was held."""
        self.shredded.add(ref)
        return self.keys.pop(ref, None) is not None

    def get(self, ref: str, kek_version: int) -> bytes | None:
        w = self.keys.get(ref, {}).get(str(kek_version))
        return None if w is None else _unb64(w, "key escrow")


class Repo:
    """An opened (unlocked) backup repository."""

    def __init__(self, root: Path, config: dict[str, Any], master: bytes) -> None:
        self.root = Path(root)
        self.config = config
        self.id = str(config["repo_id"])
        self._enc = AESGCM(self._sub(master, b"chunk-enc"))
        self._id_key = self._sub(master, b"chunk-id")
        self._meta = AESGCM(self._sub(master, b"metadata-enc"))

    @staticmethod
    def _sub(master: bytes, label: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"privtune-backup/" + label).derive(master)

    # ------------------------------------------------------------------ open / init
    @classmethod
    def init(cls, root: Path, signer_public: Ed25519PublicKey, vault_id: str,
             passphrase: bytes | None = None) -> Repo:
        root = Path(root)
        if (root / CONFIG).exists():
            raise InputError(f"{root} already holds a backup repository")
        if root.exists() and any(root.iterdir()):
            raise InputError(f"{root} is not empty and holds no backup repository")
        secret = passphrase or read_passphrase(confirm=True, env=ENV_BACKUP_PASSPHRASE,
                                               what="backup passphrase")
        salt = os.urandom(16)
        params = kdf_params()
        kek = argon2id(secret, salt, params)
        master = secrets.token_bytes(32)
        repo_id = secrets.token_hex(16)
        nonce = os.urandom(12)
        config: dict[str, Any] = {
            "format": FORMAT, "repo_id": repo_id, "kdf": {"salt": salt.hex(), **params},
            "master": _b64(nonce + AESGCM(kek).encrypt(nonce, master, repo_id.encode())),
            "signer_public": public_text(signer_public), "vault_id": vault_id,
            "chunk_size": CHUNK_SIZE,
        }
        config["mac"] = hmac.new(cls._sub(master, b"config-mac"), _canon(config), "sha256").hexdigest()
        private_dir(root)
        for sub in ("chunks", "snapshots"):
            private_dir(root / sub)
        atomic_write(root / CONFIG, _canon(config))
        return cls(root, config, master)

    @classmethod
    def open(cls, root: Path, passphrase: bytes | None = None) -> Repo:
        root = Path(root)
        try:
            config = json.loads((root / CONFIG).read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"no backup repository at {root} (no {CONFIG})") from None
        except (OSError, ValueError):
            raise IntegrityError(f"backup repository config {root / CONFIG} is damaged") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise IntegrityError(f"{root / CONFIG} is not a {FORMAT} repository config")
        secret = passphrase or read_passphrase(env=ENV_BACKUP_PASSPHRASE, what="backup passphrase")
        try:
            kdf = dict(config["kdf"])
            salt = bytes.fromhex(kdf.pop("salt"))
            blob = _unb64(config["master"], "config")
            master = AESGCM(argon2id(secret, salt, kdf)).decrypt(blob[:12], blob[12:],
                                                                 str(config["repo_id"]).encode())
        except InvalidTag:
            raise WrongKey(f"wrong backup passphrase for the repository at {root}") from None
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(f"backup repository config {root / CONFIG} is damaged") from None
        body = {k: v for k, v in config.items() if k != "mac"}
        want = hmac.new(cls._sub(master, b"config-mac"), _canon(body), "sha256").hexdigest()
        if not hmac.compare_digest(want, str(config.get("mac", ""))):
            raise IntegrityError(f"backup repository config {root / CONFIG} was changed "
                                 "(its MAC does not match)")
        return cls(root, config, master)

    @property
    def signer_public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(_unb64(self.config["signer_public"], "config"))

    # ------------------------------------------------------------------ chunks
    def chunk_id(self, data: bytes) -> str:
        return hmac.new(self._id_key, data, "sha256").hexdigest()

    def chunk_path(self, cid: str) -> Path:
        return self.root / "chunks" / cid[:2] / cid

    def put_chunk(self, data: bytes) -> tuple[str, int]:
        """Store ``data`` unless a chunk with its id exists; returns ``(id, bytes written)``."""
        cid = self.chunk_id(data)
        path = self.chunk_path(cid)
        if path.exists():
            return cid, 0
        body = _RAW + data
        # Vault files are ciphertext: a 64 KiB sample tells incompressible data cheaply.
        if len(zlib.compress(data[:SAMPLE], 1)) < 0.9 * min(len(data), SAMPLE):
            packed = zlib.compress(data, 1)
            if len(packed) < len(data):
                body = _ZLIB + packed
        nonce = os.urandom(12)
        blob = nonce + self._enc.encrypt(nonce, body, cid.encode())
        with atomic_file(path) as fh:
            fh.write(blob)
        return cid, len(blob)

    def get_chunk(self, cid: str) -> bytes:
        """The authenticated plaintext of chunk ``cid``; IntegrityError if missing or damaged."""
        path = self.chunk_path(cid)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"backup chunk {cid[:16]}… is missing") from None
        try:
            body = self._enc.decrypt(blob[:12], blob[12:], cid.encode())
        except (InvalidTag, ValueError):
            raise IntegrityError(f"backup chunk {cid[:16]}… failed authentication "
                                 "(damaged or truncated)") from None
        try:
            data = zlib.decompress(body[1:]) if body[:1] == _ZLIB else body[1:]
        except zlib.error:
            raise IntegrityError(f"backup chunk {cid[:16]}… is damaged") from None
        if not hmac.compare_digest(self.chunk_id(data), cid):
            raise IntegrityError(f"backup chunk {cid[:16]}… holds other content than its id")
        return data

    def chunk_ids(self) -> set[str]:
        base = self.root / "chunks"
        return {p.name for p in base.glob("??/*") if ID_RE.fullmatch(p.name)}

    def stored_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    # ------------------------------------------------------------------ snapshots
    def write_snapshot(self, manifest: dict[str, Any], signer: Ed25519PrivateKey) -> str:
        body = _canon(manifest)
        if self.config["signer_public"] != public_text(signer.public_key()):
            raise IntegrityError("this workspace's signing key is not the one the backup "
                                 "repository pinned: back it up to its own repository")
        nonce = os.urandom(12)
        sid = str(manifest["snapshot_id"])
        doc = {"format": FORMAT, "snapshot_id": sid,
               "manifest": _b64(nonce + self._meta.encrypt(nonce, body, sid.encode())),
               "signature": _b64(signer.sign(b"privtune-backup-snapshot/1" + body))}
        private_dir(self.root / "snapshots")
        atomic_write(self.root / "snapshots" / f"{sid}.snap", _canon(doc))
        return sid

    def snapshot_ids(self) -> list[str]:
        d = self.root / "snapshots"
        return sorted(m.group(1) for p in d.iterdir() if (m := SNAP_RE.fullmatch(p.name))) \
            if d.is_dir() else []

    def read_snapshot(self, sid: str) -> dict[str, Any]:
        """The manifest of snapshot ``sid``, decrypted and its signature checked."""
        path = self.root / "snapshots" / f"{sid}.snap"
        try:
            doc = json.loads(path.read_bytes())
            blob = _unb64(doc["manifest"], f"snapshot {sid}")
            sig = _unb64(doc["signature"], f"snapshot {sid}")
        except FileNotFoundError:
            raise NotFoundError(f"no snapshot {sid} in {self.root}") from None
        except (OSError, ValueError, KeyError, TypeError):
            raise IntegrityError(f"backup snapshot {sid} is damaged") from None
        try:
            body = self._meta.decrypt(blob[:12], blob[12:], sid.encode())
        except (InvalidTag, ValueError):
            raise IntegrityError(f"backup snapshot {sid} failed authentication") from None
        try:
            self.signer_public.verify(sig, b"privtune-backup-snapshot/1" + body)
        except InvalidSignature:
            raise IntegrityError(f"backup snapshot {sid}: the signature does not verify under the "
                                 "pinned workspace key") from None
        manifest = json.loads(body)
        if manifest.get("snapshot_id") != sid:
            raise IntegrityError(f"backup snapshot {sid} names another snapshot inside")
        return manifest

    def latest(self) -> str:
        ids = self.snapshot_ids()
        if not ids:
            raise NotFoundError(f"the backup repository at {self.root} holds no snapshot")
        return ids[-1]

    # ------------------------------------------------------------------ escrow
    def read_escrow(self) -> Escrow:
        path = self.root / ESCROW
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return Escrow()
        try:
            doc = json.loads(self._meta.decrypt(blob[:12], blob[12:], b"escrow:" + self.id.encode()))
            return Escrow(int(doc["generation"]), {str(k): dict(v) for k, v in doc["keys"].items()},
                          set(doc["shredded"]))
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise IntegrityError("the backup key escrow failed authentication (damaged)") from None

    def write_escrow(self, escrow: Escrow) -> None:
        escrow.generation += 1
        body = _canon({"generation": escrow.generation, "keys": escrow.keys,
                       "shredded": sorted(escrow.shredded)})
        nonce = os.urandom(12)
        atomic_write(self.root / ESCROW,
                     nonce + self._meta.encrypt(nonce, body, b"escrow:" + self.id.encode()))


def read_file_chunks(path: Path, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while data := fh.read(size):
            yield data


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    for b in read_file_chunks(path):
        h.update(b)
    return h.hexdigest()
