"""API keys: 256-bit secrets from ``secrets``, shown once, stored only as Argon2id hashes.

Format ``ptk_<key id: 12 hex>_<secret: 43 url-safe base64 chars>``. The key id is public and
indexes the stored hash, so authentication hashes once instead of against every key.

Argon2id parameters: RFC 9106's second recommended option (t=3, 64 MiB, p=4) by default
(``privtune.vault.kdf``); other costs only by an explicit ``params`` argument (the test suite
passes cheap ones). The hash string records its parameters, so a check verifies any hash
without a setting, and ``needs_rehash`` flags one made with other parameters.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from privtune.vault import kdf
from privtune.vault.kdf import Argon2Params

PREFIX = "ptk"
SECRET_BYTES = 32  # 256 bits; the issue asks for at least 128
KEY_RE = re.compile(r"ptk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")  # used with fullmatch


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    full: str


def hasher(params: Argon2Params | None = None) -> PasswordHasher:
    """The Argon2id hasher for new keys (``params`` default: ``privtune.vault.kdf.DEFAULT``)."""
    p = kdf.resolve(params)
    return PasswordHasher(time_cost=p.time_cost, memory_cost=p.memory_kib,
                          parallelism=p.parallelism, hash_len=32, salt_len=16)


def new_key() -> ParsedKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return ParsedKey(key_id, f"{PREFIX}_{key_id}_{secret}")


def parse_key(text: str) -> ParsedKey | None:
    m = KEY_RE.fullmatch(text.strip())
    return ParsedKey(m.group(1), m.group(0)) if m else None


def hash_key(key: ParsedKey, params: Argon2Params | None = None) -> str:
    return hasher(params).hash(key.full)


def verify_key(stored_hash: str, key: ParsedKey) -> bool:
    try:
        return PasswordHasher().verify(stored_hash, key.full)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False

#: The CLI's identity: the API key to act with.
ENV_API_KEY = "PRIVTUNE_API_KEY"
