"""Key-encryption-key (KEK) providers: passphrase (Argon2id), key file, OpenBao/Vault Transit.

A provider wraps and unwraps 32-byte data keys. Each KEK *version* is one row of the ``keks``
table: its provider kind, public parameters (salt, KDF cost, transit key name) and a check
value that tells a wrong passphrase or key file from a right one. The KEK itself is never
written anywhere: it is derived (passphrase, key file) or held by the Transit engine.

Secrets come from the environment when set (``PRIVTUNE_PASSPHRASE``, ``PRIVTUNE_KEY_FILE``,
``PRIVTUNE_TRANSIT_TOKEN`` / ``BAO_TOKEN`` / ``VAULT_TOKEN``), else from a prompt on a terminal.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privtune.errors import ConfigError, IntegrityError, KeyMissing, ResourceError, WrongKey
from privtune.vault import kdf as _kdf
from privtune.vault.kdf import Argon2Params
from privtune.vault.strength import check_passphrase

ENV_PASSPHRASE = "PRIVTUNE_PASSPHRASE"  # noqa: S105  (a variable's name, not a secret)
ENV_NEW_PASSPHRASE = "PRIVTUNE_NEW_PASSPHRASE"  # noqa: S105  (a variable's name, not a secret)
ENV_KEY_FILE = "PRIVTUNE_KEY_FILE"
ENV_TRANSIT_TOKENS = ("PRIVTUNE_TRANSIT_TOKEN", "BAO_TOKEN", "VAULT_TOKEN")
PROVIDERS = ("passphrase", "keyfile", "transit")

KEY_FILE_MIN = 32
_CHECK = b"privtune kek check v1"


class KekProvider(Protocol):
    """Wraps data keys under one KEK version; ``aad`` binds a wrapped key to its object."""

    kind: str

    def wrap(self, data_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...


@dataclass
class KekSpec:
    """How to create a KEK version: which provider and where its secret lives."""

    provider: str = "passphrase"
    key_file: str | None = None
    transit_url: str | None = None
    transit_key: str | None = None
    transit_mount: str = "transit"
    new_passphrase: bool = False
    #: A passphrase given by the caller (the demo); else PRIVTUNE_PASSPHRASE or a prompt.
    passphrase: str | None = field(default=None, repr=False)
    #: Argon2id cost of a passphrase KEK (default ``privtune.vault.kdf.DEFAULT``, RFC 9106);
    #: stored in the KEK's row, so unlocking needs no setting.
    kdf: Argon2Params | None = None
    #: Accept a new passphrase that fails the strength check (``--allow-weak-passphrase``).
    allow_weak: bool = False

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(f"unknown key provider '{self.provider}'; allowed: {', '.join(PROVIDERS)}",
                              key="provider")
        if self.provider == "transit" and not (self.transit_url and self.transit_key):
            raise ConfigError("the transit provider needs --transit-url and --transit-key",
                              key="transit")
        if self.provider == "keyfile" and not self.key_file:
            raise ConfigError("the keyfile provider needs --key-file", key="key_file")


# ---------------------------------------------------------------- secrets
def read_passphrase(*, confirm: bool = False, env: str = ENV_PASSPHRASE, what: str = "passphrase") -> bytes:
    value = os.environ.get(env)
    if value:
        return value.encode("utf-8")
    if not sys.stdin or not sys.stdin.isatty():
        raise KeyMissing(f"no vault {what}: set {env} or run in a terminal to be prompted")
    first = getpass.getpass(f"vault {what}: ")
    if not first:
        raise KeyMissing(f"empty vault {what}")
    if confirm and getpass.getpass(f"repeat the vault {what}: ") != first:
        raise WrongKey(f"the two {what}s differ")
    return first.encode("utf-8")


def kdf_params(params: Argon2Params | None = None) -> dict[str, int]:
    """The stored form of Argon2id parameters (``t``, ``m_kib``, ``p`` in the KEK's row)."""
    p = _kdf.resolve(params)
    return {"t": p.time_cost, "m_kib": p.memory_kib, "p": p.parallelism}


def argon2id(secret: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    from argon2.low_level import Type, hash_secret_raw

    return hash_secret_raw(secret, salt, time_cost=params["t"], memory_cost=params["m_kib"],
                           parallelism=params["p"], hash_len=32, type=Type.ID)


def check_value(kek: bytes) -> str:
    return hmac.new(kek, _CHECK, hashlib.sha256).hexdigest()


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def read_key_file(path: str | Path) -> bytes:
    p = Path(os.environ.get(ENV_KEY_FILE) or path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise KeyMissing(f"key file {p} not found (set {ENV_KEY_FILE} or restore the file)") from None
    except OSError as exc:
        raise KeyMissing(f"key file {p} cannot be read ({type(exc).__name__})") from None
    if len(data) < KEY_FILE_MIN:
        raise WrongKey(f"key file {p} holds fewer than {KEY_FILE_MIN} bytes")
    return data


def create_key_file(path: str | Path) -> Path:
    """Write a new 32-byte random key file (mode 0600); refuses to overwrite."""
    from privtune.fsutil import atomic_write

    p = Path(path)
    if p.exists():
        raise ConfigError(f"key file {p} already exists", key="key_file")
    atomic_write(p, base64.b64encode(os.urandom(32)) + b"\n", mode=0o600)
    return p


# ---------------------------------------------------------------- local KEKs
class LocalKek:
    """A KEK held in memory (derived from a passphrase or a key file): AES-256-GCM key wrap."""

    def __init__(self, kind: str, kek: bytes) -> None:
        self.kind = kind
        self._aead = AESGCM(kek)

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        n = os.urandom(12)
        return n + self._aead.encrypt(n, data_key, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:12], blob[12:], aad)
        except (InvalidTag, ValueError):
            raise IntegrityError("a wrapped data key failed authentication (damaged or moved)") from None


def new_local_params(spec: KekSpec) -> tuple[dict[str, Any], bytes]:
    """Fresh public parameters and the derived KEK for a passphrase or key-file version."""
    salt = os.urandom(16)
    if spec.provider == "passphrase":
        params: dict[str, Any] = {"salt": salt.hex(), "kdf": "argon2id", **kdf_params(spec.kdf)}
        env = ENV_NEW_PASSPHRASE if spec.new_passphrase else ENV_PASSPHRASE
        if spec.passphrase:
            secret = spec.passphrase.encode("utf-8")
        else:
            secret = read_passphrase(confirm=True, env=env,
                                     what="new passphrase" if spec.new_passphrase else "passphrase")
        if not spec.allow_weak:
            check_passphrase(secret.decode("utf-8"))
        # The keyring keeps the derived KEK unlocked for the rest of this process.
        return params, argon2id(secret, salt, params)
    path = str(Path(spec.key_file).resolve())  # type: ignore[arg-type]
    params = {"salt": salt.hex(), "kdf": "hkdf-sha256", "path": path}
    return params, _hkdf(read_key_file(path), salt, b"privtune kek keyfile v1")


def derive_local(provider: str, params: dict[str, Any], check: str, version: int) -> bytes:
    salt = bytes.fromhex(params["salt"])
    if provider == "passphrase":
        kek = argon2id(read_passphrase(), salt, params)
        if not hmac.compare_digest(check_value(kek), check):
            raise WrongKey(f"wrong vault passphrase (KEK version {version})")
        return kek
    kek = _hkdf(read_key_file(params["path"]), salt, b"privtune kek keyfile v1")
    if not hmac.compare_digest(check_value(kek), check):
        raise WrongKey(f"key file {os.environ.get(ENV_KEY_FILE) or params['path']} does not open "
                       f"this vault (KEK version {version})")
    return kek


# ---------------------------------------------------------------- transit
def transit_token() -> str:
    for env in ENV_TRANSIT_TOKENS:
        if os.environ.get(env):
            return os.environ[env]
    raise KeyMissing(f"no Transit token: set one of {', '.join(ENV_TRANSIT_TOKENS)}")


class TransitKek:
    """A KEK held by an OpenBao / HashiCorp Vault Transit engine; never leaves the server."""

    kind = "transit"

    def __init__(self, url: str, key: str, mount: str = "transit") -> None:
        try:
            import hvac
        except ImportError:
            raise ResourceError("the transit provider needs the 'transit' extra "
                                "(pip install 'privtune[transit]')") from None
        self.url, self.key, self.mount = url, key, mount
        self._client = hvac.Client(url=url, token=transit_token(), timeout=10)

    def _call(self, fn, *args, **kw):
        import hvac.exceptions as hx
        import requests

        try:
            return fn(*args, mount_point=self.mount, **kw)
        except (hx.Forbidden, hx.Unauthorized):
            raise WrongKey(f"the Transit server refused the token for key '{self.key}'") from None
        except hx.InvalidPath:
            raise KeyMissing(f"Transit key '{self.key}' not found at {self.url}") from None
        except hx.InvalidRequest:
            raise IntegrityError(f"the Transit server rejected a wrapped key of '{self.key}'") from None
        except (requests.exceptions.RequestException, hx.VaultDown, hx.InternalServerError) as exc:
            raise KeyMissing(f"Transit server {self.url} unreachable ({type(exc).__name__})") from None

    def ensure_key(self) -> int:
        """Create the transit key if needed; return its latest version."""
        t = self._client.secrets.transit
        try:
            return self.latest_version()
        except KeyMissing:
            self._call(t.create_key, name=self.key, key_type="aes256-gcm96")
            return self.latest_version()

    def latest_version(self) -> int:
        info = self._call(self._client.secrets.transit.read_key, name=self.key)
        return int(info["data"]["latest_version"])

    def rotate(self) -> int:
        self._call(self._client.secrets.transit.rotate_key, name=self.key)
        return self.latest_version()

    def set_min_decryption_version(self, version: int) -> None:
        self._call(self._client.secrets.transit.update_key_configuration, name=self.key,
                   min_decryption_version=version)

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        bound = hashlib.sha256(aad).digest()[:16] + data_key
        res = self._call(self._client.secrets.transit.encrypt_data, name=self.key,
                         plaintext=base64.b64encode(bound).decode())
        return res["data"]["ciphertext"].encode()

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        res = self._call(self._client.secrets.transit.decrypt_data, name=self.key,
                         ciphertext=blob.decode())
        bound = base64.b64decode(res["data"]["plaintext"])
        if not hmac.compare_digest(bound[:16], hashlib.sha256(aad).digest()[:16]):
            raise IntegrityError("a wrapped data key belongs to another object")
        return bound[16:]
