"""Library API for identities: each call is checked and audited by the ``Guard`` first, then
made on the metadata ``store`` (``privtune.access.users``)."""

from __future__ import annotations

from privtune.access import users
from privtune.access.guard import Guard
from privtune.access.users import IssuedKey
from privtune.store import MetadataStore
from privtune.store.access_models import ApiKey, User
from privtune.vault.kdf import Argon2Params

#: Metadata key holding the lockdown state ("on" / "off"; absent: off).
LOCKDOWN_META = "lockdown"


def add_user(guard: Guard, store: MetadataStore, handle: str, role: str, *,
             expires_days: float | None = None, kdf: Argon2Params | None = None) -> IssuedKey:
    guard.check("user.manage", "users", action="create", role=role)
    return users.create_user(store, handle, role, expires_days=expires_days, kdf=kdf)


def issue_key(guard: Guard, store: MetadataStore, handle: str, *,
              expires_days: float | None = None, kdf: Argon2Params | None = None) -> IssuedKey:
    guard.check("user.manage", "users", action="issue-key")
    return users.issue_key(store, handle, expires_days=expires_days, kdf=kdf)


def revoke_key(guard: Guard, store: MetadataStore, key_id: str) -> None:
    guard.check("user.manage", "users", action="revoke-key", key_id=key_id[:16])
    users.revoke_key(store, key_id)


def set_role(guard: Guard, store: MetadataStore, handle: str, role: str) -> None:
    guard.check("user.manage", "users", action="set-role", role=role)
    users.set_role(store, handle, role)


def list_users(guard: Guard, store: MetadataStore) -> list[tuple[User, list[ApiKey]]]:
    guard.check("user.manage", "users", action="list")
    return users.list_users(store)


def in_lockdown(store: MetadataStore) -> bool:
    """Is the workspace in lockdown? (Read by the Guard on every check; not itself audited.)"""
    return store.get_meta(LOCKDOWN_META) == "on"


def set_lockdown(guard: Guard, store: MetadataStore, on: bool) -> None:
    """Enter (admin) or leave (the break-glass admin, who alone acts during one) a lockdown."""
    guard.check("lockdown.set", "workspace", action="enter" if on else "leave")
    store.set_meta(LOCKDOWN_META, "on" if on else "off")
