"""The workspace's own gate policy: stored in the metadata store (every version kept, the newest
in force), read by every release, changed only by ``policy.write`` (admin, DPO), audited.

Until one is set, the built-in :class:`~privtune.gate.policy.GatePolicy` defaults are in force
(version 0). ``privtune audit --policy FILE`` may measure a model against another policy, but a
release compares the verdict's policy hash with this one and refuses a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from privtune.errors import IntegrityError
from privtune.gate.policy import GatePolicy, policy_sha256
from privtune.gate.site import GateSite
from privtune.store.db import MetadataStore
from privtune.store.gate_models import GatePolicyVersion, ensure_gate_tables

POLICY_OBJECT = "gate-policy"


@dataclass(frozen=True)
class WorkspacePolicy:
    policy: GatePolicy
    sha256: str
    #: 0: the built-in defaults (no policy set yet).
    version: int
    set_by: str = ""
    set_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "set_by": self.set_by,
                "set_at": self.set_at, "policy": self.policy.model_dump(mode="json")}


def workspace_policy(store: MetadataStore) -> WorkspacePolicy:
    """The policy in force (checked against its stored hash)."""
    ensure_gate_tables(store.engine)
    with store.session() as s:
        row = s.scalars(select(GatePolicyVersion)
                        .order_by(GatePolicyVersion.version.desc()).limit(1)).first()
    if row is None:
        default = GatePolicy()
        return WorkspacePolicy(default, policy_sha256(default), 0)
    try:
        policy = GatePolicy.model_validate(row.policy)
    except ValidationError:
        raise IntegrityError(f"gate_policies version {row.version}: the stored policy is not "
                             "a valid gate policy") from None
    sha = policy_sha256(policy)
    if sha != row.sha256:
        raise IntegrityError(f"gate_policies version {row.version}: the stored policy does not "
                             "match its hash")
    return WorkspacePolicy(policy, sha, row.version, row.set_by,
                           row.set_at.isoformat(timespec="seconds") if row.set_at else "")


def view_policy(site: GateSite) -> WorkspacePolicy:
    """The policy in force, for ``privtune policy show`` (``metadata.read``, audited)."""
    site.check("metadata.read", POLICY_OBJECT, action="show")
    return workspace_policy(site.store)


def set_policy(site: GateSite, policy: GatePolicy) -> WorkspacePolicy:
    """Make ``policy`` the workspace's (``policy.write``: admin, DPO; audited with the old and
    new hashes before anything changes)."""
    current = workspace_policy(site.store)
    new_sha = policy_sha256(policy)
    who = site.check("policy.write", POLICY_OBJECT, previous_sha256=current.sha256,
                     sha256=new_sha, version=current.version + 1)
    with site.store.session() as s:
        s.add(GatePolicyVersion(version=current.version + 1, sha256=new_sha,
                                policy=policy.model_dump(mode="json"), set_by=who.user_id))
    return workspace_policy(site.store)
