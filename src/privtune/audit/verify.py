"""Full verification: the hash chain, then every signed checkpoint against it.

A rewrite that recomputes every hash after an edit keeps the chain self-consistent; the
Ed25519-signed checkpoints catch it (the event at a checkpoint no longer has the signed hash),
as they catch deleting the tail of the log (a checkpoint beyond the last event). Events after
the newest checkpoint are protected by the chain only: ``privtune audit-log checkpoint``
signs the head on demand.

Signatures are checked with the public key pinned in the workspace config at ``init``
(``audit_public_key``), never with a key read from ``keys/``: a missing pin is a verification
failure, as is a signing key in ``keys/`` that is missing or is not the pinned one
(``verify_signing_key``); nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privtune.audit.log import AuditLog, checkpoint_message
from privtune.errors import PrivtuneError


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


NO_PIN = ("no pinned audit-log public key in the workspace config (audit_public_key): "
          "signatures cannot be checked")


def verify_log(log: AuditLog, pub: Ed25519PublicKey | None) -> VerifyReport:
    """Verify the chain and every checkpoint's signature under the pinned key ``pub``.

    ``pub`` None (no pinned key) is a failure, reported after the chain's own result."""
    chain = log.verify_chain()
    cps = log.checkpoints()
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
    return VerifyReport(True, n_events, len(cps))


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
    except PrivtuneError as exc:
        return VerifyReport(False, report.events, report.checkpoints, bad,
                            f"the audit signing key cannot be read: {exc}")
    if _raw(current) != _raw(pinned):
        return VerifyReport(False, report.events, report.checkpoints, bad,
                            "the audit signing key in keys/ is not the pinned one (swapped)")
    return report
