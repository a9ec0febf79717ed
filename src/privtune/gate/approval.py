"""Four-eyes on releases: a first approver records an approval, a second, other user releases.

With ``release_approval: other-user`` (or ``other-role``) in the workspace config, a release
needs two people holding ``release.approve``: the first approval is an audit event
(``release.approve``, ``action=approve-first``, naming the model ref and the audit id), and the
release itself (:func:`privtune.gate.release.release`, from the console or the CLI) is refused
unless such an approval exists for the same model and audit by another user (of another role
under ``other-role``). The approval lives in the hash-chained, signed audit log, so it cannot be
forged or back-dated without the log's verification failing; a newer audit of the model makes
older approvals void (they name the audit). ``none`` (the default) releases on one approval.

The approver acts under ``release.approve`` (``Guard.acting_for``): hashing and signing the
adapter reads it and the release key, which a DPO's role alone does not allow
(``roles.DELEGATED``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from privtune.access.guard import Guard
from privtune.errors import NotFoundError, PermissionDenied, PrivacyPolicyError
from privtune.gate.site import GateSite
from privtune.store.audit_models import AuditEvent
from privtune.store.db import MetadataStore
from privtune.store.models import Audit

FIRST = "approve-first"
MODES = ("none", "other-user", "other-role")


@dataclass(frozen=True)
class FirstApproval:
    seq: int
    actor: str
    role: str
    ts: str


@dataclass(frozen=True)
class Approval:
    state: str                 # "awaiting-second" | "released"
    model_ref: str
    release_id: str = ""
    directory: str = ""


def pending_approval(store: MetadataStore, model_ref: str, audit_id: str) -> FirstApproval | None:
    """The newest first approval of ``model_ref`` under ``audit_id`` (None: none)."""
    with store.session() as s:
        rows = s.scalars(select(AuditEvent).where(
            AuditEvent.op == "release.approve", AuditEvent.object == model_ref,
            AuditEvent.outcome == "allow").order_by(AuditEvent.seq.desc())).all()
    for r in rows:
        try:
            d = json.loads(r.detail or "{}")
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("action") == FIRST and d.get("audit") == audit_id:
            return FirstApproval(r.seq, r.actor, r.role, r.ts)
    return None


def second_approval_problem(store: MetadataStore, mode: str, user_id: str, role: str,
                            model_ref: str, audit_id: str) -> str:
    """Why ``user_id`` may not release ``model_ref`` now under four-eyes ``mode`` ('' : may)."""
    if mode == "none":
        return ""
    first = pending_approval(store, model_ref, audit_id)
    if first is None:
        return (f"four-eyes: '{model_ref}' needs a first approval of audit {audit_id} by "
                "another user before it is released (privtune console)")
    if first.actor == user_id:
        return "four-eyes: the first approver may not also release"
    if mode == "other-role" and first.role == role:
        return f"four-eyes: this workspace needs a second approver of a role other than {role}"
    return ""


def approve_release(site: GateSite, guard: Guard, audit_id: str) -> Approval:
    """Approve releasing the model of audit ``audit_id``: without four-eyes, release it; with
    four-eyes, record the first approval, or, as a second user, release it. The gate's own
    checks run as for ``privtune release`` (the audit must be the model's latest and passed,
    under the workspace policy)."""
    from privtune.gate.release import check_releasable, release

    p = guard.check("release.approve", audit_id[:64], action="approve")
    with site.store.session() as s:
        row = s.get(Audit, audit_id)
    if row is None:
        raise NotFoundError("no such audit")
    model_ref = row.model_ref
    audit = check_releasable(site, model_ref)
    if audit.id != audit_id:
        raise PrivacyPolicyError(f"audit {audit_id} is not the latest audit of '{model_ref}' "
                                 f"({audit.id}): approve from the latest")
    mode = site.release_approval
    if mode != "none":
        first = pending_approval(site.store, model_ref, audit_id)
        if first is None:
            guard.check("release.approve", model_ref, action=FIRST, audit=audit_id)
            return Approval("awaiting-second", model_ref)
        problem = second_approval_problem(site.store, mode, p.user_id, p.role, model_ref,
                                          audit_id)
        if problem:
            guard.log.append(actor=p.user_id, role=p.role, key_id=p.key_id,
                             op="release.approve", object=model_ref, outcome="deny",
                             reason=problem[:200], detail={"audit": audit_id})
            raise PermissionDenied(f"permission denied: {problem}")
    with guard.acting_for("release.approve", model_ref, action="release", audit=audit_id):
        res = release(site, model_ref)
    return Approval("released", res.record.model_ref, res.release_id, str(res.directory))
