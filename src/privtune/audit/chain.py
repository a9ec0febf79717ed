"""The hash chain: canonical encoding of an event and batch verification in one tight loop.

Event *n* stores ``hash = SHA-256(prev_hash || 0x1e || canonical(event))`` where ``prev_hash``
is event *n-1*'s hash (64 zeros for the first) and ``canonical`` joins the fields, in the
order of ``FIELDS``, with the unit separator 0x1f. Fields may not contain control characters
(checked on append), so the encoding is unambiguous; ``detail`` is itself canonical JSON
(sorted keys, no spaces, ASCII). The sequence number is part of the hashed content, so an
event commits to its position as well as to its predecessor.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
FIELDS = ("seq", "ts", "actor", "role", "key_id", "op", "object", "outcome", "reason", "detail")
ROW_COLUMNS = FIELDS + ("prev_hash", "hash")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def canonical_detail(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def check_field(name: str, value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(f"audit field '{name}' holds a control character")
    return value


def event_hash(prev: str, fields: Sequence[Any]) -> str:
    body = "\x1f".join(str(f) for f in fields)
    return hashlib.sha256(f"{prev}\x1e{body}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainResult:
    events: int               # events that were checked and found good
    last_hash: str            # hash of the last good event
    bad_position: int | None  # first bad position (1-based), None if the chain is intact
    reason: str = ""


def verify_rows(rows: Iterable[Sequence[Any]]) -> ChainResult:
    """Walk rows ordered by seq (columns as ``ROW_COLUMNS``); stop at the first bad one.

    At position p: the sequence number must be p (else an event is missing or was moved), the
    stored hash must match the content (else the event was edited, or a forged one inserted),
    and ``prev_hash`` must equal the hash of event p-1 (else the order was changed).
    """
    sha = hashlib.sha256
    prev = GENESIS
    pos = 0
    for r in rows:
        pos += 1
        seq = r[0]
        if seq != pos:
            if seq > pos:
                why = f"event {pos} is missing (next stored event is {seq})"
            else:
                why = f"unexpected sequence number {seq}"
            return ChainResult(pos - 1, prev, pos, why)
        stored_prev = r[10]
        body = f"{stored_prev}\x1e{seq}\x1f{r[1]}\x1f{r[2]}\x1f{r[3]}\x1f{r[4]}\x1f{r[5]}\x1f{r[6]}\x1f{r[7]}\x1f{r[8]}\x1f{r[9]}"
        if sha(body.encode()).hexdigest() != r[11]:
            return ChainResult(pos - 1, prev, pos, f"event {pos} does not match its hash (edited, "
                                                   "inserted or moved)")
        if stored_prev != prev:
            return ChainResult(pos - 1, prev, pos, f"event {pos} does not link to event {pos - 1} "
                                                   "(reordered, or an event before it was replaced)")
        prev = r[11]
    return ChainResult(pos, prev, None)
