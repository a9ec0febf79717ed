"""Users and API keys in the metadata store: create, issue, revoke, authenticate.

These functions are the storage layer; permission checks and audit events for them are made
by ``privtune.access.admin`` (the library API) before it calls in here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from privtune.access.apikeys import ParsedKey, hash_key, new_key, parse_key, verify_key
from privtune.access.principal import Principal
from privtune.access.roles import ROLES
from privtune.errors import InputError, NotFoundError, PermissionDenied
from privtune.store import MetadataStore
from privtune.store.access_models import ApiKey, User
from privtune.vault.kdf import Argon2Params

HANDLE_RE = re.compile(r"[a-z][a-z0-9._-]{0,63}")  # used with fullmatch: no trailing newline


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: ``secret`` is shown once and never stored."""

    user_id: str
    handle: str
    role: str
    key_id: str
    secret: str
    expires_at: datetime | None


class AuthFailure(PermissionDenied):
    """Authentication failed; ``key_id`` (public) is kept for the audit event."""

    def __init__(self, message: str, key_id: str = "") -> None:
        super().__init__(message)
        self.key_id = key_id


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    if t is not None and t.tzinfo is None:  # SQLite drops the zone; values are stored in UTC
        return t.replace(tzinfo=UTC)
    return t


def create_user(store: MetadataStore, handle: str, role: str, *, expires_days: float | None = None,
                key: str | None = None, kdf: Argon2Params | None = None) -> IssuedKey:
    if not HANDLE_RE.fullmatch(handle):
        raise InputError("user handles are 1-64 characters of a-z, 0-9, '.', '_' or '-'",
                         field="handle")
    if role not in ROLES:
        raise InputError(f"unknown role; allowed: {', '.join(ROLES)}", field="role")
    with store.session() as s:
        if s.scalar(select(User).where(User.handle == handle)) is not None:
            raise InputError("a user with this handle exists", field="handle")
        user = User(id=f"u-{secrets.token_hex(8)}", handle=handle, role=role)
        s.add(user)
    return issue_key(store, handle, expires_days=expires_days, key=key, kdf=kdf)


def issue_key(store: MetadataStore, handle: str, *, expires_days: float | None = None,
              key: str | None = None, kdf: Argon2Params | None = None) -> IssuedKey:
    """A new key for ``handle``. ``key`` provisions a caller-made key (bootstrap, tests);
    ``kdf`` the Argon2id cost of its stored hash (default: ``privtune.vault.kdf.DEFAULT``)."""
    if expires_days is not None and expires_days <= 0:
        raise InputError("expiry must be a positive number of days", field="expires_days")
    parsed: ParsedKey | None = parse_key(key) if key is not None else new_key()
    if parsed is None:
        raise InputError("a provisioned API key must look like ptk_<12 hex>_<43 base64url chars>")
    expires = _now() + timedelta(days=expires_days) if expires_days is not None else None
    with store.session() as s:
        user = s.scalar(select(User).where(User.handle == handle))
        if user is None:
            raise NotFoundError("no such user")
        if s.get(ApiKey, parsed.key_id) is not None:
            raise InputError("an API key with this key id exists")
        s.add(ApiKey(key_id=parsed.key_id, user_id=user.id, secret_hash=hash_key(parsed, kdf),
                     expires_at=expires))
        return IssuedKey(user.id, user.handle, user.role, parsed.key_id, parsed.full, expires)


def revoke_key(store: MetadataStore, key_id: str) -> None:
    with store.session() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"no API key '{key_id[:16]}'")
        if row.revoked_at is None:
            row.revoked_at = _now()


def set_role(store: MetadataStore, handle: str, role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown role; allowed: {', '.join(ROLES)}", field="role")
    with store.session() as s:
        user = s.scalar(select(User).where(User.handle == handle))
        if user is None:
            raise NotFoundError("no such user")
        user.role = role
        return user.id


def list_users(store: MetadataStore) -> list[tuple[User, list[ApiKey]]]:
    with store.session() as s:
        users = s.scalars(select(User).order_by(User.handle)).all()
        keys = s.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()
    return [(u, [k for k in keys if k.user_id == u.id]) for u in users]


_DECOY: list[str] = []


def _decoy_hash() -> str:
    """An Argon2id hash (default cost) of a random key nobody holds, made once per process."""
    if not _DECOY:
        _DECOY.append(hash_key(new_key()))
    return _DECOY[0]


def authenticate(store: MetadataStore, key_text: str) -> Principal:
    """The principal of a valid, unexpired, unrevoked key; AuthFailure otherwise."""
    parsed = parse_key(key_text or "")
    if parsed is None:
        raise AuthFailure("malformed API key")
    with store.session() as s:
        row = s.get(ApiKey, parsed.key_id)
        user = s.get(User, row.user_id) if row is not None else None
        # An unknown key id costs the same Argon2id work as a known one (no timing oracle on
        # which key ids exist): verify against the newest stored hash (the current cost),
        # which fails for this key.
        decoy = (s.scalar(select(ApiKey.secret_hash).order_by(ApiKey.created_at.desc()).limit(1))
                 if row is None else None)
    if row is None or user is None:
        verify_key(decoy or _decoy_hash(), parsed)
        raise AuthFailure("invalid API key", parsed.key_id if row is not None else "")
    if not verify_key(row.secret_hash, parsed):
        raise AuthFailure("invalid API key", parsed.key_id)
    if row.revoked_at is not None:
        raise AuthFailure(f"API key {parsed.key_id} has been revoked", parsed.key_id)
    expires = _aware(row.expires_at)
    if expires is not None and expires <= _now():
        raise AuthFailure(f"API key {parsed.key_id} has expired: ask an admin for a new one "
                          f"(`privtune access issue-key HANDLE`) and set PRIVTUNE_API_KEY to it",
                          parsed.key_id)
    if user.disabled:
        raise AuthFailure("user is disabled", parsed.key_id)
    return Principal(user.id, user.handle, user.role, parsed.key_id)
