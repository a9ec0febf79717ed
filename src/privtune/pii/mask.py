"""Replace personal data: ``[TYPE]`` placeholders in text, keyed pseudonym tokens for ids.

:class:`Pseudonymizer` maps a value to ``KIND-`` plus the first 10 hex characters of
HMAC-SHA256(key, kind || 0x00 || value): deterministic for one key (the same employee gets
the same token in every table and text), unlinkable without the key, and different per kind.
The key must be at least 16 bytes: employee ids are few and guessable, so a short key could be
brute-forced from the tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from privtune.errors import ConfigError
from privtune.pii.spans import Span, resolve_overlaps

MIN_KEY_BYTES = 16
_KIND = re.compile(r"[A-Z][A-Z0-9]{0,15}")


def mask_text(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span replaced by ``[TYPE]`` (overlapping spans are merged first)."""
    out: list[str] = []
    pos = 0
    for s in resolve_overlaps(spans):
        if s.end > len(text):
            raise ValueError("span extends past the end of the text")
        out.append(text[pos : s.start])
        out.append(f"[{s.type}]")
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


class Pseudonymizer:
    """Keyed, deterministic pseudonyms: ``token("E00042") -> "EMP-3f9a1c07be"``."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)):
            raise ConfigError("pseudonymisation key must be bytes", key="pseudonym_key")
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes", key="pseudonym_key"
            )
        self._key = bytes(key)

    def token(self, value: str, kind: str = "EMP") -> str:
        """``KIND-`` + 10 hex chars of HMAC-SHA256 over kind and the stripped value."""
        if not _KIND.fullmatch(kind):
            raise ValueError("kind must be 1-16 upper-case letters/digits, starting with a letter")
        msg = kind.encode() + b"\x00" + str(value).strip().encode("utf-8")
        return f"{kind}-{hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:10]}"

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymizer(key=<hidden>)"
