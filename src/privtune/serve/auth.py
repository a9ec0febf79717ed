"""Who is asking: Bearer API keys of the workspace, verified once and cached for a bounded time.

Argon2id costs ~0.28 s per verification (by design), far too much per request. :class:`KeyCache`
verifies a key with :func:`privtune.access.users.authenticate` once and keeps the verified
principal under the SHA-256 of the key (the key itself is never kept) for at most ``ttl_s``.
The key's and its user's state (revoked, expired, disabled, role) is re-read from the metadata
store (cheap, row-MAC'd rows, no Argon2) whenever the cached check is older than ``recheck_s``
(default 1 s), so a revocation or a role change takes effect within a second; a lockdown is
honoured on every request by the Guard's own lockdown check.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from privtune.access.principal import Principal
from privtune.access.users import AuthFailure, authenticate
from privtune.store import MetadataStore
from privtune.store.access_models import ApiKey, User


@dataclass
class _Entry:
    principal: Principal
    verified: float
    checked: float


class KeyCache:
    def __init__(self, store: MetadataStore, *, ttl_s: float = 300.0,
                 recheck_s: float = 1.0, max_entries: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        #: Guards the cache only: the Argon2id work and the store's reads run outside it, so
        #: one slow verification never holds up the other requests.
        self.lock = threading.Lock()
        self.ttl_s, self.recheck_s, self.max_entries = ttl_s, recheck_s, max_entries
        self.clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        #: Keys verified with Argon2id (every other request was a cache hit).
        self.verifications = 0

    def is_cached(self, key_text: str) -> bool:
        """Is this key verified and cached (a request with it costs no Argon2id)?"""
        digest = hashlib.sha256(key_text.encode()).hexdigest()
        with self.lock:
            entry = self._cache.get(digest)
        return entry is not None and self.clock() - entry.verified < self.ttl_s

    def authenticate(self, key_text: str) -> Principal:
        """The principal of a valid key; :class:`AuthFailure` otherwise."""
        digest = hashlib.sha256(key_text.encode()).hexdigest()
        now = self.clock()
        with self.lock:
            entry = self._cache.get(digest)
            if entry is not None and now - entry.verified >= self.ttl_s:
                self._cache.pop(digest, None)
                entry = None
        if entry is not None:
            if now - entry.checked >= self.recheck_s:
                try:
                    principal = self._current(entry.principal)
                except AuthFailure:
                    with self.lock:
                        self._cache.pop(digest, None)
                    raise
                with self.lock:
                    entry.principal, entry.checked = principal, now
            with self.lock:
                if digest in self._cache:
                    self._cache.move_to_end(digest)
            return entry.principal
        principal = authenticate(self.store, key_text)
        with self.lock:
            self.verifications += 1
            self._cache[digest] = _Entry(principal, now, now)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return principal

    def current(self, p: Principal) -> Principal:
        """``p`` as the store has it now; AuthFailure when its key or user no longer may act
        (the console re-checks a signed-in session with it on every request)."""
        return self._current(p)

    def _current(self, p: Principal) -> Principal:
        """``p`` as the store has it now (role), or AuthFailure (revoked, expired, disabled)."""
        with self.store.session() as s:
            row = s.get(ApiKey, p.key_id)
            user = s.get(User, p.user_id)
            if row is None or user is None or row.user_id != user.id:
                raise AuthFailure("invalid API key", p.key_id)
            if row.revoked_at is not None:
                raise AuthFailure(f"API key {p.key_id} has been revoked", p.key_id)
            expires = row.expires_at
            if expires is not None:
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                if expires <= datetime.now(UTC):
                    raise AuthFailure(f"API key {p.key_id} has expired", p.key_id)
            if user.disabled:
                raise AuthFailure("user is disabled", p.key_id)
            return Principal(user.id, user.handle, user.role, p.key_id)


class RateLimiter:
    """A token bucket per key id: ``per_minute`` requests a minute, bursts up to ``burst``."""

    def __init__(self, per_minute: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute)))
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0 when the request may go; else the seconds to wait (for Retry-After)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


class Concurrency:
    """At most ``limit`` requests in flight per key id."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._n: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> bool:
        with self._lock:
            if self._n.get(key_id, 0) >= self.limit:
                return False
            self._n[key_id] = self._n.get(key_id, 0) + 1
            return True

    def release(self, key_id: str) -> None:
        with self._lock:
            self._n[key_id] = max(0, self._n.get(key_id, 1) - 1)
