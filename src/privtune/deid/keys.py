"""Keyed derivations for de-identification: one HMAC-SHA256 key, many purposes.

Every keyed operator (pseudonym tokens, surrogate seeds, date-shift offsets) derives its bytes
from ``HMAC-SHA256(key, purpose || 0x00 || person_key)``. The key is the workspace's pseudonym
key from the vault; without it, tokens cannot be linked back or recomputed. Person keys are
normalised by :func:`person_key` (case-folded, whitespace collapsed) so ``"ANA  LOPEZ"`` and
``"ana lopez"`` are the same person.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from privtune.errors import ConfigError

MIN_KEY_BYTES = 16
_WS = re.compile(r"\s+")


def person_key(value: object) -> str:
    """The normalised identity of a person: case-folded, whitespace collapsed, stripped.

    Upper-cased before case-folding (and NFKC-normalised around it) so that every case variant
    of a string maps to the same key, even for letters whose cases do not round-trip
    (Turkish dotless i, long s)."""
    text = unicodedata.normalize("NFKC", str(value)).upper()
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


class KeyedHash:
    """``digest(purpose, value)``: keyed, deterministic, different per purpose and per key."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes", key="pseudonym_key"
            )
        self._key = bytes(key)

    def digest(self, purpose: str, value: object) -> bytes:
        msg = purpose.encode() + b"\x00" + person_key(value).encode("utf-8")
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def integer(self, purpose: str, value: object) -> int:
        """A 64-bit integer derived from :meth:`digest` (seeds, offsets)."""
        return int.from_bytes(self.digest(purpose, value)[:8], "big")

    def __repr__(self) -> str:  # never show the key
        return "KeyedHash(key=<hidden>)"
