"""The signed head of the audit log, kept in three places so that its tail cannot vanish unseen.

A checkpoint (``privtune.audit.log``) signs, with the audit-log Ed25519 key::

    privtune-audit-checkpoint-v2 | seq | hash | ts | prev_seq | vault_heads_digest

* ``seq``, ``hash``: the head of the hash chain at that moment;
* ``prev_seq``: the previous checkpoint (0 for the first), so the checkpoints form a chain of
  their own and removing any one of them breaks it;
* ``vault_heads_digest``: SHA-256 of the canonical map ``name -> latest version`` of every vault
  object, so a rolled-back manifest (the rows of ``rb@2`` deleted) contradicts a signed head
  (``privtune.vault.objects`` checks it on ``get NAME``, ``put`` and ``verify``).

The head is kept (1) in the database (``audit_checkpoints`` + ``audit_checkpoint_meta``),
(2) in the head file ``DIR/audit-head.json`` next to it (atomic, 0600, never moved backwards and
never onto a chain that does not extend it), and (3) when configured, in an external anchor
(``privtune.audit.anchor``). ``compare`` checks one signed head against the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privtune.errors import IntegrityError
from privtune.fsutil import atomic_write

HEAD_FILE = "audit-head.json"
HEAD_FORMAT = "privtune-audit-head/1"
_FIELDS = ("seq", "hash", "ts", "prev_seq", "heads_digest", "signature")


def canonical_heads(heads: Mapping[str, int]) -> str:
    return json.dumps(dict(sorted(heads.items())), separators=(",", ":"), ensure_ascii=True)


def heads_digest(heads: Mapping[str, int]) -> str:
    return hashlib.sha256(canonical_heads(heads).encode()).hexdigest()


def checkpoint_message_v2(seq: int, hash_: str, ts: str, prev_seq: int, digest: str) -> bytes:
    return f"privtune-audit-checkpoint-v2\x1f{seq}\x1f{hash_}\x1f{ts}\x1f{prev_seq}\x1f{digest}".encode()


@dataclass(frozen=True)
class SignedHead:
    """One signed checkpoint of the head; ``heads`` (the vault map) may be absent (anchor lines)."""

    seq: int
    hash: str
    ts: str
    prev_seq: int
    heads_digest: str
    signature: str
    heads: dict[str, int] | None = field(default=None, compare=False)

    def message(self) -> bytes:
        return checkpoint_message_v2(self.seq, self.hash, self.ts, self.prev_seq, self.heads_digest)

    def valid(self, pub: Ed25519PublicKey) -> bool:
        """The signature holds, and the vault map (when present) is the one signed."""
        if self.heads is not None and heads_digest(self.heads) != self.heads_digest:
            return False
        try:
            pub.verify(bytes.fromhex(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_dict(self, *, with_heads: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {f: getattr(self, f) for f in _FIELDS}
        if with_heads and self.heads is not None:
            d["heads"] = dict(sorted(self.heads.items()))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> SignedHead:
        bad = IntegrityError(f"{where} is not a signed audit-log head")
        try:
            vals = {f: d[f] for f in _FIELDS}
        except (KeyError, TypeError):
            raise bad from None
        for f in ("seq", "prev_seq"):
            if not isinstance(vals[f], int) or isinstance(vals[f], bool) or vals[f] < 0:
                raise bad
        for f in ("hash", "ts", "heads_digest", "signature"):
            if not isinstance(vals[f], str):
                raise bad
        heads = d.get("heads")
        if heads is not None:
            if not isinstance(heads, dict) or not all(
                    isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                    for k, v in heads.items()):
                raise bad
            heads = dict(heads)
        return cls(heads=heads, **vals)


# ---------------------------------------------------------------- the head file

def head_path(root: Path) -> Path:
    return Path(root) / HEAD_FILE


def read_head_file(path: Path) -> SignedHead | None:
    """The head file's signed head; None if there is none; IntegrityError if it is damaged."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raise IntegrityError(f"audit-log head file {path} is unreadable") from None
    try:
        d = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"audit-log head file {path} is damaged") from None
    if not isinstance(d, dict) or d.get("format") != HEAD_FORMAT:
        raise IntegrityError(f"audit-log head file {path} is damaged")
    return SignedHead.from_dict(d, f"audit-log head file {path}")


def write_head_file(path: Path, head: SignedHead) -> bool:
    """Write ``head`` atomically (0600) unless the file already holds this or a later head.

    An exclusive lock on ``<file>.lock`` serialises writers (processes checkpointing at once),
    so the file never moves backwards. Return whether it was written.
    """
    lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(IntegrityError):  # a damaged file is replaced by a good head
            cur = read_head_file(path)
            if cur is not None and cur.seq >= head.seq:
                return False
        body = json.dumps({"format": HEAD_FORMAT, **head.to_dict()}, separators=(",", ":"),
                          ensure_ascii=True)
        atomic_write(path, body.encode() + b"\n", mode=0o600)
        return True
    finally:
        os.close(lock)  # releases the lock


# ---------------------------------------------------------------- comparison

def compare(head: SignedHead, label: str, last_seq: int, hash_at: Callable[[int], str | None],
            pub: Ed25519PublicKey | None) -> tuple[int, str] | None:
    """Check a signed head kept outside the chain against the log ending at ``last_seq``.

    Return ``(first bad position, reason)`` or None. The signature must hold (no key: a
    failure, never a skip); the head's event must exist (else the tail was truncated or the
    database rolled back) with the signed hash (else the events up to it were rewritten).
    """
    if pub is None:
        return (1, f"{label} cannot be checked: the audit-log signing key is missing")
    if not head.valid(pub):
        return (1, f"{label} has an invalid signature (forged, or signed with another key)")
    if head.seq > last_seq:
        return (last_seq + 1, f"the log was truncated or rolled back: {label} signed event "
                              f"{head.seq}, the log ends at event {last_seq}")
    stored = hash_at(head.seq) if head.seq else None
    if head.seq and stored != head.hash:
        return (head.seq, f"the log was rolled back or rewritten: event {head.seq} differs from "
                          f"{label}")
    return None
