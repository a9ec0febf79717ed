"""Full verification: the hash chain, every signed checkpoint against it, then the heads kept
outside the database (the head file, the external anchor) against the log.

A rewrite that recomputes every hash after an edit keeps the chain self-consistent; the
Ed25519-signed checkpoints catch it (the event at a checkpoint no longer has the signed hash),
as they catch deleting the tail of the log (a checkpoint beyond the last event). Each v2
checkpoint names its predecessor, so removing any checkpoint breaks their chain. Deleting the
tail together with its checkpoints is caught by the head file (``privtune.audit.head``: signed
at every checkpoint, i.e. after every command), and rolling back the database *and* the head
file by the external anchor, when one is configured.

Signatures (checkpoints, the head file, the anchor) are checked with the public key pinned in
the workspace config at ``init`` (``audit_public_key``), never with a key read from ``keys/``:
a missing pin is a verification failure, as is a signing key in ``keys/`` that is missing or is
not the pinned one (``verify_signing_key``); nothing is skipped.

``upto``: the last event before this verification's own audit event, so that event cannot
stand in for a deleted one (``privtune.audit.api.verify`` passes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privtune.audit.anchor import Anchor
from privtune.audit.head import checkpoint_message_v2, compare, read_head_file
from privtune.audit.log import AuditLog, checkpoint_message
from privtune.errors import IntegrityError, KeyMissing, PrivtuneError


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    checkpoints: int
    bad_position: int | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()  # what the heads kept outside the database were compared with

    def line(self) -> str:
        if self.ok:
            return (f"audit log intact: {self.events} events, {self.checkpoints} signed checkpoints"
                    + "".join(f"; {n}" for n in self.notes))
        return f"audit log damaged at position {self.bad_position}: {self.reason}"


NO_PIN = ("no pinned audit-log public key in the workspace config (audit_public_key): "
          "signatures cannot be checked")


def verify_log(log: AuditLog, pub: Ed25519PublicKey | None, *, upto: int | None = None,
               anchor: Anchor | None = None) -> VerifyReport:
    """Verify the chain, every checkpoint and the heads kept outside the database under the
    pinned key ``pub``.

    ``pub`` None (no pinned key) is a failure, reported after the chain's own result.
    ``anchor``: compare with this anchor instead of the one the log's config names."""
    chain = log.verify_chain()
    cps = log.checkpoints()
    meta = log.checkpoint_meta()
    n_events = chain.events
    good_until = 0  # highest position covered by a valid, matching checkpoint
    last = n_events if upto is None else min(upto, n_events)
    stored = log.hashes_at([c[0] for c in cps])
    cp_bad: tuple[int, str] | None = None
    prev_cp = 0
    for seq, h, ts, sig in cps:
        if chain.bad_position is not None and seq >= chain.bad_position:
            break  # checkpoints past a broken link fail as a consequence; the chain names it
        m = meta.get(seq)
        if pub is not None:
            msg = checkpoint_message(seq, h, ts) if m is None else checkpoint_message_v2(seq, h, ts, *m)
            try:
                pub.verify(bytes.fromhex(sig), msg)
            except (InvalidSignature, ValueError):
                cp_bad = (good_until + 1, f"checkpoint at event {seq} has an invalid signature")
                break
        if m is not None and m[0] != prev_cp:
            cp_bad = ((m[0] or good_until + 1), f"the signed checkpoint at event {m[0]} was "
                      f"removed (the checkpoint at event {seq} names it as its predecessor)")
            break
        prev_cp = seq
        if seq not in stored or seq > last:
            pos = last + 1 if chain.bad_position is None else chain.bad_position
            cp_bad = (pos, f"the log was truncated or events removed: a checkpoint signed event "
                           f"{seq}, which is not in the log")
            break
        if stored[seq] != h:
            cp_bad = (good_until + 1, f"events {good_until + 1}..{seq} were rewritten (the hash at "
                                      f"event {seq} differs from its signed checkpoint)")
            break
        good_until = seq
    if cp_bad is None and pub is None:
        cp_bad = (n_events + 1 if chain.bad_position is None else chain.bad_position, NO_PIN)
    if cp_bad is None:
        # A checkpoint is signed in the same transaction as every CHECKPOINT_EVERY-th event.
        from privtune.audit import log as _log

        every = _log.CHECKPOINT_EVERY
        limit = n_events if chain.bad_position is None else chain.bad_position - 1
        present = {c[0] for c in cps}
        missing = next((m for m in range(every, limit + 1, every) if m not in present), None)
        if missing is not None:
            cp_bad = (missing, f"the signed checkpoint at event {missing} was removed")
    if chain.bad_position is not None:
        if cp_bad is not None and cp_bad[0] < chain.bad_position:
            return VerifyReport(False, n_events, len(cps), cp_bad[0], cp_bad[1])
        return VerifyReport(False, n_events, len(cps), chain.bad_position, chain.reason)
    if cp_bad is not None:
        return VerifyReport(False, n_events, len(cps), cp_bad[0], cp_bad[1])
    assert pub is not None  # a missing pin failed above
    kept = _kept_heads(log, pub, last, cps, meta, anchor)
    if isinstance(kept, tuple):
        return VerifyReport(False, n_events, len(cps), kept[0], kept[1])
    return VerifyReport(True, n_events, len(cps), notes=tuple(kept))


def _kept_heads(log: AuditLog, pub: Ed25519PublicKey, last: int,
                cps: list[tuple[int, str, str, str]], meta: dict[int, tuple[int, str]],
                anchor: Anchor | None) -> list[str] | tuple[int, str]:
    """Compare the head file and the anchor with the log ending at ``last``; return the notes,
    or ``(position, reason)`` of the first failure."""
    def hash_at(seq: int) -> str | None:
        return log.hashes_at([seq]).get(seq)

    notes: list[str] = []
    sig = {c[0]: c[3] for c in cps}
    head_file = log.head_file()
    if head_file is not None:  # a workspace's log (a bare log, e.g. a benchmark's, has none)
        try:
            head = read_head_file(head_file)
        except IntegrityError as exc:
            return (1, exc.message)
        if head is None:
            if meta:
                return (last + 1, f"the audit-log head file {head_file.name} is missing (the log "
                                  "may have been truncated or rolled back)")
        else:
            bad = compare(head, "the head file", last, hash_at, pub)
            if bad is not None:
                return bad
            if head.seq and sig.get(head.seq) != head.signature:
                return (head.seq, f"the signed checkpoint at event {head.seq} (the head file's) "
                                  "was removed from the database")
            notes.append(f"head file at event {head.seq} matches")
    if anchor is None:
        anchor = log.anchor()
    if anchor is None:
        notes.append("no external anchor (audit_anchor)")
    elif not anchor.readable:
        notes.append(f"anchor {anchor.spec} is write-only: compare its last line by hand")
    else:
        try:
            top = anchor.latest(pub)
        except IntegrityError as exc:
            return (1, exc.message)
        if top is None:
            if meta:
                return (last + 1, f"the anchor {anchor.spec} holds no head of this workspace "
                                  "(newly configured? run privtune audit-log checkpoint)")
            notes.append(f"anchor {anchor.spec} holds no head yet")
        else:
            bad = compare(top, f"the anchor {anchor.spec}", last, hash_at, pub)
            if bad is not None:
                return bad
            if top.seq and sig.get(top.seq) != top.signature:
                return (top.seq, f"the signed checkpoint at event {top.seq} (the anchor's) was "
                                 "removed from the database")
            notes.append(f"anchor {anchor.spec} at event {top.seq} matches")
    return notes


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_signing_key(report: VerifyReport, pinned: Ed25519PublicKey | None,
                       signer_public: Callable[[], Ed25519PublicKey] | None) -> VerifyReport:
    """Fail ``report`` unless the signing key in ``keys/`` exists and is the pinned one (a
    swapped key would sign checkpoints that the pin then refuses: say so before it does)."""
    if not report.ok or pinned is None:
        return report
    bad = report.events + 1
    if signer_public is None:
        return VerifyReport(False, report.events, report.checkpoints, bad,
                            "the audit signing key is not available")
    try:
        current = signer_public()
    except KeyMissing as exc:
        return VerifyReport(False, report.events, report.checkpoints, bad,
                            f"the audit signing key is missing: {exc}")
    except PrivtuneError as exc:
        return VerifyReport(False, report.events, report.checkpoints, bad,
                            f"the audit signing key cannot be read: {exc}")
    if _raw(current) != _raw(pinned):
        return VerifyReport(False, report.events, report.checkpoints, bad,
                            "the audit signing key in keys/ is not the pinned one (swapped)")
    return report
