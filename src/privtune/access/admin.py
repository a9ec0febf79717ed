"""Library API for identities, each call checked and audited through the workspace guard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privtune.access import users
from privtune.access.users import IssuedKey

if TYPE_CHECKING:
    from privtune.workspace import Workspace


def add_user(ws: Workspace, handle: str, role: str, *, expires_days: float | None = None) -> IssuedKey:
    ws.guard("user.manage", "users", action="create", role=role)
    return users.create_user(ws.store, handle, role, expires_days=expires_days)


def issue_key(ws: Workspace, handle: str, *, expires_days: float | None = None) -> IssuedKey:
    ws.guard("user.manage", "users", action="issue-key")
    return users.issue_key(ws.store, handle, expires_days=expires_days)


def revoke_key(ws: Workspace, key_id: str) -> None:
    ws.guard("user.manage", "users", action="revoke-key", key_id=key_id[:16])
    users.revoke_key(ws.store, key_id)


def set_role(ws: Workspace, handle: str, role: str) -> None:
    ws.guard("user.manage", "users", action="set-role", role=role)
    users.set_role(ws.store, handle, role)


def list_users(ws: Workspace):
    ws.guard("user.manage", "users", action="list")
    return users.list_users(ws.store)
