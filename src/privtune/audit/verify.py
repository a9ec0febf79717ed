"""Full verification: the hash chain, then every signed checkpoint against it.

A rewrite that recomputes every hash after an edit keeps the chain self-consistent; the
Ed25519-signed checkpoints catch it (the event at a checkpoint no longer has the signed hash),
as they catch deleting the tail of the log (a checkpoint beyond the last event). Events after
the newest checkpoint are protected by the chain only: ``privtune audit-log checkpoint``
signs the head on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from privtune.audit.log import AuditLog, checkpoint_message
from privtune.vault.wskeys import KEYS_DIR, public_key


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    checkpoints: int
    bad_position: int | None = None
    reason: str = ""

    def line(self) -> str:
        if self.ok:
            return f"audit log intact: {self.events} events, {self.checkpoints} signed checkpoints"
        return f"audit log damaged at position {self.bad_position}: {self.reason}"


def verify_log(log: AuditLog, keys_root: Path | None) -> VerifyReport:
    chain = log.verify_chain()
    cps = log.checkpoints()
    pub = None
    if keys_root is not None and (Path(keys_root) / KEYS_DIR).is_dir():
        pub = public_key(keys_root)
    n_events = chain.events
    good_until = 0  # highest position covered by a valid, matching checkpoint
    stored = log.hashes_at([c[0] for c in cps])
    cp_bad: tuple[int, str] | None = None
    for seq, h, ts, sig in cps:
        if chain.bad_position is not None and seq >= chain.bad_position:
            break  # checkpoints past a broken link fail as a consequence; the chain names it
        if pub is not None:
            try:
                pub.verify(bytes.fromhex(sig), checkpoint_message(seq, h, ts))
            except (InvalidSignature, ValueError):
                cp_bad = (good_until + 1, f"checkpoint at event {seq} has an invalid signature")
                break
        if seq not in stored:
            pos = n_events + 1 if chain.bad_position is None else chain.bad_position
            cp_bad = (pos, f"the log was truncated or events removed: a checkpoint signed event "
                           f"{seq}, which is not in the log")
            break
        if stored[seq] != h:
            cp_bad = (good_until + 1, f"events {good_until + 1}..{seq} were rewritten (the hash at "
                                      f"event {seq} differs from its signed checkpoint)")
            break
        good_until = seq
    if cp_bad is None and pub is not None:
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
    return VerifyReport(True, n_events, len(cps))
