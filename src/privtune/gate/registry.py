"""The release registry: which adapter versions were released, under which audit, policy and
signing key, and which were later revoked or quarantined.

One ``releases`` row per release (:class:`~privtune.store.gate_models.ReleaseEntry`) holds the
signed :class:`~privtune.records.ReleaseRecord`; the release bundle is written from it. Every way
a model leaves the vault asks :func:`require_released` first (export now; serving, erasure and
lockdown later). States: ``released`` -> ``quarantined`` (held while something is looked into)
-> ``revoked`` (final); ``released`` -> ``revoked``. Only ``release.approve`` changes a state
(admin, DPO), audited before the change.
"""

from __future__ import annotations

import uuid
from typing import get_args

from sqlalchemy import select

from privtune.errors import InputError, IntegrityError, NotFoundError, PrivacyPolicyError
from privtune.gate.site import GateSite
from privtune.records import ReleaseRecord, ReleaseState
from privtune.store.db import MetadataStore
from privtune.store.gate_models import ReleaseEntry, ensure_gate_tables
from privtune.store.models import utcnow

STATES: tuple[str, ...] = get_args(ReleaseState)
#: state -> the states it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "released": frozenset({"quarantined", "revoked"}),
    "quarantined": frozenset({"revoked"}),
    "revoked": frozenset(),
}
REASON_MAX = 200


def new_release_id() -> str:
    return f"rel-{utcnow().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _checked(row: ReleaseEntry) -> ReleaseEntry:
    """The row, after checking its columns against the record it holds."""
    rec = ReleaseRecord.from_dict(row.record)
    if (rec.release_id, rec.model_ref, rec.adapter_sha256, rec.audit_id, rec.audit_sha256,
            rec.policy_sha256, rec.signer_key_id) != (
            row.id, row.model_ref, row.adapter_sha256, row.audit_id, row.verdict_sha256,
            row.policy_sha256, row.signer_key_id):
        raise IntegrityError(f"releases row {row.id}: its columns do not match its signed record")
    if row.state not in STATES:
        raise IntegrityError(f"releases row {row.id}: unknown state")
    return row


def record_of(row: ReleaseEntry) -> ReleaseRecord:
    return ReleaseRecord.from_dict(_checked(row).record)


def entries(store: MetadataStore, model_name: str | None = None) -> list[ReleaseEntry]:
    """Every release (of one model name), oldest first, each checked against its record."""
    ensure_gate_tables(store.engine)
    with store.session() as s:
        q = select(ReleaseEntry).order_by(ReleaseEntry.released_at, ReleaseEntry.id)
        if model_name is not None:
            q = q.where(ReleaseEntry.model_name == model_name)
        rows = list(s.scalars(q))
    return [_checked(r) for r in rows]


def entry_for(store: MetadataStore, model_ref: str) -> ReleaseEntry | None:
    """The newest release of one adapter version (``name@N``), or ``None``."""
    rows = [r for r in entries(store, model_ref.split("@")[0]) if r.model_ref == model_ref]
    return rows[-1] if rows else None


def register(store: MetadataStore, rec: ReleaseRecord, released_by: str) -> ReleaseEntry:
    """Add a ``released`` row for a signed record (its ``release_id`` is the row's id)."""
    if rec.release_id is None or rec.policy_sha256 is None:
        raise InputError("a release record needs its release id and policy hash")
    ensure_gate_tables(store.engine)
    now = utcnow()
    row = ReleaseEntry(id=rec.release_id, model_name=rec.model_ref.split("@")[0],
                       model_ref=rec.model_ref, adapter_sha256=rec.adapter_sha256,
                       audit_id=rec.audit_id, verdict_sha256=rec.audit_sha256,
                       policy_sha256=rec.policy_sha256, signer_key_id=rec.signer_key_id,
                       state="released", released_at=now, released_by=released_by,
                       changed_at=now, changed_by=released_by, record=rec.to_dict())
    with store.session() as s:
        s.add(row)
    return row


def require_released(store: MetadataStore, model_ref: str, adapter_sha256: str) -> ReleaseEntry:
    """The release that lets ``model_ref`` (with these adapter bytes) leave the vault, or
    :class:`PrivacyPolicyError` saying why not."""
    row = entry_for(store, model_ref)
    if row is None:
        raise PrivacyPolicyError(
            f"'{model_ref}' has not been released: only a released model leaves the vault "
            f"(privtune audit {model_ref}, then privtune release {model_ref}; an admin may "
            "export it with --unaudited, marked as such)")
    if row.state != "released":
        raise PrivacyPolicyError(f"'{model_ref}' was {row.state} ({row.id}, "
                                 f"{row.changed_at:%Y-%m-%d}): it may not leave the vault")
    if row.adapter_sha256 != adapter_sha256:
        raise PrivacyPolicyError(f"'{model_ref}' is not the adapter release {row.id} vouches for "
                                 "(hash differs)")
    return row


def change_state(site: GateSite, model_ref: str, state: str, reason: str = "") -> ReleaseEntry:
    """Revoke or quarantine the release of ``model_ref`` (``release.approve``, audited first)."""
    if state not in ("revoked", "quarantined"):
        raise InputError(f"unknown release state '{state}' (revoked, quarantined)")
    if len(reason) > REASON_MAX or any(not c.isprintable() for c in reason):
        raise InputError(f"the reason must be one printable line of at most {REASON_MAX} "
                         "characters", field="reason")
    ref = site.vault.resolve(model_ref)
    row = entry_for(site.store, ref)
    who = site.check("release.approve", ref, action=state,
                     release=row.id if row is not None else "")
    if row is None:
        raise NotFoundError(f"'{ref}' has no release to mark {state}")
    if state not in TRANSITIONS[row.state]:
        raise PrivacyPolicyError(f"release {row.id} of '{ref}' is {row.state}: it cannot be "
                                 f"marked {state}")
    with site.store.session() as s:
        live = s.get(ReleaseEntry, row.id)
        assert live is not None
        if live.state != row.state:
            raise PrivacyPolicyError(f"release {row.id} changed state meanwhile; try again")
        live.state, live.changed_at, live.changed_by, live.reason = state, utcnow(), who.user_id, reason
    out = entry_for(site.store, ref)
    assert out is not None
    return out


def list_releases(site: GateSite, model: str | None = None) -> list[ReleaseEntry]:
    """The registry (``metadata.read``, audited), of one model name when given."""
    site.check("metadata.read", "releases", action="list", model=model or "")
    return entries(site.store, model.split("@")[0] if model else None)


def check_registered(site: GateSite, release_id: str, model_ref: str) -> ReleaseEntry:
    """The registry row of a release bundle being verified (``metadata.read``, audited), or
    :class:`PrivacyPolicyError` when the workspace does not know it, or it was revoked or
    quarantined since it was signed: a valid signature does not outlive the registry."""
    site.check("metadata.read", "releases", action="verify", release=release_id)
    row = entry_for(site.store, model_ref)
    if row is None or row.id != release_id:
        raise PrivacyPolicyError(f"release {release_id} of '{model_ref}' is not in this "
                                 "workspace's release registry")
    if row.state != "released":
        raise PrivacyPolicyError(f"release {row.id} of '{model_ref}' was {row.state} "
                                 f"({row.changed_at:%Y-%m-%d}): the bundle must not be used")
    return row
