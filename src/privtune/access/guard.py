"""The one permission-and-audit hook every operation goes through: ``Guard.check``.

``check(op, obj, **detail)`` decides with the role matrix, then writes the audit event
(allow or deny, with the reason) and only then lets the caller act. If the event cannot be
written the operation is refused with ``AuditWriteFailed`` (fail closed): the caller has not
started, so nothing changed. Detail values must be ids, refs, counts or keyed hashes
(``Guard.keyed``), never personal data.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from privtune.access.principal import Principal
from privtune.access.roles import DELEGATED, allowed, vault_operation
from privtune.audit.log import AuditLog
from privtune.errors import ObjectKindConflict, PermissionDenied
from privtune.vault.wskeys import keyed_hash

NO_IDENTITY = "no identity (set PRIVTUNE_API_KEY, or open the workspace with an API key)"


class Guard:
    def __init__(self, subkey: Callable[[str], bytes], log: AuditLog, principal: Principal | None) -> None:
        #: ``label -> key`` derived from the workspace secret (``WorkspaceKeys.subkey``).
        self.subkey = subkey
        self.log = log
        self.principal = principal
        self._audit_key: bytes | None = None
        self._host: str | None = None
        #: ``name -> version the next put will get`` so write events name ``name@version``;
        #: set by the Workspace (from the vault's manifests). Under concurrent writers of the
        #: same name the vault's own numbering wins; the event then names the version raced for.
        self.next_version: Callable[[str], int] | None = None
        #: ``() -> bool``: is the workspace in lockdown (only the break-glass admin acts)? Set
        #: by the Workspace (``privtune.access.admin.in_lockdown``); None: never.
        self.lockdown: Callable[[], bool] | None = None
        #: The subject-request operation being carried out (``acting_for``), or None.
        self._acting_for: str | None = None

    def keyed(self, value: str) -> str:
        """HMAC-SHA256 of ``value`` under the workspace's audit subkey (for identifiers)."""
        if self._audit_key is None:
            self._audit_key = self.subkey("audit")
        return keyed_hash(self._audit_key, value)

    def host(self) -> str:
        """This machine, as a keyed hash (12 hex) under the audit key: lets the anomaly detector
        see a key used from a new host without writing host names into the log."""
        if self._host is None:
            self._host = self.keyed("host:" + socket.gethostname())[:12]
        return self._host
    @contextmanager
    def acting_for(self, op: str, obj: str = "", **detail: Any) -> Iterator[Principal]:
        """Check ``op`` (a subject-request operation of ``roles.DELEGATED``), then, inside the
        block, allow the operations it covers to a principal whose role lacks them: a DPO
        carrying out an approved erasure rewrites the data. Each such event is audited with
        ``via=op``; outside the block nothing changes. Not nestable."""
        if op not in DELEGATED:
            raise ValueError(f"'{op}' delegates nothing")
        who = self.check(op, obj, **detail)
        if self._acting_for is not None:
            raise ValueError("acting_for does not nest")
        self._acting_for = op
        try:
            yield who
        finally:
            self._acting_for = None

    def check(self, op: str, obj: str = "", **detail: Any) -> Principal:
        """Authorize ``op`` on ``obj`` for the workspace principal; audit first; raise if denied."""
        return self._decide(op, obj, "", detail)

    def _decide(self, op: str, obj: str, refusal: str, detail: dict[str, Any]) -> Principal:
        """``check`` with the object's own ``refusal``: non-empty (the object refuses the
        operation whatever the role, e.g. a vault put that claims another kind than the
        object's) makes it a deny with that reason, raised as :class:`ObjectKindConflict` when
        the role alone would have been allowed."""
        p = self.principal
        locked = p is not None and self.lockdown is not None and self.lockdown()
        role_ok = p is not None and allowed(p.role, op, lockdown=locked)
        via = self._acting_for
        if not role_ok and p is not None and via is not None and op in DELEGATED[via] and \
                allowed(p.role, via, lockdown=locked):
            role_ok, detail = True, {**detail, "via": via}
        ok = role_ok and not refusal
        if p is None:
            reason = NO_IDENTITY
        elif not role_ok:
            reason = (f"role {p.role} may not {op}" + (" during a lockdown" if locked else "")
                      + (f"; {refusal}" if refusal else ""))
        else:
            reason = refusal
        if p is not None:  # where the key is used from, for the new-host alert (a keyed hash)
            detail = {**detail, "host": self.host()}
        self.log.append(
            actor=p.user_id if p else "-", role=p.role if p else "-", key_id=p.key_id if p else "",
            op=op, object=obj, outcome="allow" if ok else "deny", reason=reason, detail=detail,
        )
        if not ok:
            if role_ok:
                raise ObjectKindConflict(f"permission denied: {reason}")
            raise PermissionDenied(f"permission denied: {reason}")
        assert p is not None
        return p

    def record_auth_failure(self, key_id: str, reason: str) -> None:
        """Audit a failed authentication (best effort: the caller is refused either way)."""
        try:
            self.log.append(actor="-", role="-", key_id=key_id, op="auth", outcome="deny",
                            reason=reason)
        except PermissionDenied:
            pass

    def vault_hook(self, action: str, ref: str, kind: str | None, refusal: str = "") -> None:
        """The Vault's hook: ``read``/``write``/``shred`` of an object of ``kind``; ``list`` of all.

        ``kind`` is the object's (fixed by its first version or reserved name, never the kind a
        writer claims), so the operation checked is the object's; ``refusal`` is the vault's
        reason to refuse a write whatever the role (privtune.vault.names)."""
        if action == "list":
            self.check("metadata.read", "vault")
        elif action == "shred":
            self.check(vault_operation("write", kind), ref, kind=kind or "", action="shred")
        elif action == "write" and self.next_version is not None:
            self._decide(vault_operation(action, kind), f"{ref}@{self.next_version(ref)}",
                         refusal, {"kind": kind or ""})
        else:
            self._decide(vault_operation(action, kind), ref, refusal, {"kind": kind or ""})
