"""Library API over the audit log; every call is itself checked (``audit.read``) and audited.

Each call takes the parts it needs: ``check`` (the permission-and-audit hook, normally
``Guard.check``), and the log, the pinned public key or the metadata store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privtune.audit.anchor import open_anchor
from privtune.audit.events import AuditRecord
from privtune.audit.log import AuditLog
from privtune.audit.query import EventFilter, select_events
from privtune.audit.query import export as _export
from privtune.audit.verify import VerifyReport, verify_log, verify_signing_key
from privtune.store import MetadataStore


class Check(Protocol):
    """``check(op, obj, **detail)``: authorize and audit first; raise PermissionDenied if refused
    (``Guard.check``; the layers below access take it as this callable)."""

    def __call__(self, op: str, obj: str = "", **detail: Any) -> object: ...


def verify(check: Check, log: AuditLog, pinned: Ed25519PublicKey | None,
           signer_public: Callable[[], Ed25519PublicKey] | None = None, *,
           anchor: str = "") -> VerifyReport:
    """Verify the log under the ``pinned`` public key (None: a failure), and that the signing
    key (``signer_public``, e.g. ``WorkspaceKeys.public_key``) is the pinned one.

    The log is verified as it was before this call's own audit event (which must not stand in
    for a deleted one); ``anchor``: an anchor spec to compare with instead of the configured one.
    """
    before = log.last_seq()
    check("audit.read", "audit-log", action="verify")
    other = open_anchor(anchor, log.workspace_id()) if anchor else None
    return verify_signing_key(verify_log(log, pinned, upto=before, anchor=other), pinned,
                              signer_public)


def show(check: Check, store: MetadataStore, f: EventFilter | None = None) -> list[AuditRecord]:
    check("audit.read", "audit-log", action="show")
    return select_events(store, f or EventFilter())


def export(check: Check, store: MetadataStore, fmt: str, f: EventFilter | None = None) -> str:
    check("audit.read", "audit-log", action="export", format=fmt[:8])
    return _export(select_events(store, f or EventFilter()), fmt)


def checkpoint(check: Check, log: AuditLog) -> int:
    check("audit.read", "audit-log", action="checkpoint")
    return log.checkpoint()
