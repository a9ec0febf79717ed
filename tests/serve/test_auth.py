"""The API-key cache and the limiters, on a fake clock."""

from __future__ import annotations

import pytest

from privtune.access import admin
from privtune.access.users import AuthFailure
from privtune.serve.auth import Concurrency, KeyCache, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_cache_ttl_recheck_role_change_and_bound(workspace) -> None:
    ws, clock = workspace, Clock()
    key = admin.add_user(ws.access, ws.store, "svc", "app").secret
    other = admin.add_user(ws.access, ws.store, "svc2", "app").secret
    cache = KeyCache(ws.store, ttl_s=60, recheck_s=1, max_entries=1, clock=clock)
    assert cache.authenticate(key).role == "app"
    clock.t += 0.5
    assert cache.authenticate(key).role == "app" and cache.verifications == 1
    admin.set_role(ws.access, ws.store, "svc", "viewer")
    assert cache.authenticate(key).role == "app"  # within the recheck interval
    clock.t += 1.0
    assert cache.authenticate(key).role == "viewer"  # re-read, no Argon2id
    assert cache.verifications == 1
    clock.t += 60
    cache.authenticate(key)
    assert cache.verifications == 2  # past the TTL: verified again
    cache.authenticate(other)  # max_entries=1: the first key is evicted
    cache.authenticate(key)
    assert cache.verifications == 4
    with pytest.raises(AuthFailure):
        cache.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
    key_id = key.split("_")[1]
    admin.revoke_key(ws.access, ws.store, key_id)
    clock.t += 1.0
    with pytest.raises(AuthFailure, match="revoked"):
        cache.authenticate(key)
    with pytest.raises(AuthFailure, match="revoked"):
        cache.authenticate(key)  # dropped from the cache: the full check refuses it too


def test_rate_limiter_and_concurrency() -> None:
    clock = Clock()
    rl = RateLimiter(60, burst=2, clock=clock)
    assert rl.take("a") == 0 and rl.take("a") == 0
    wait = rl.take("a")
    assert 0.9 <= wait <= 1.0
    assert rl.take("b") == 0
    clock.t += 1.0
    assert rl.take("a") == 0
    c = Concurrency(1)
    assert c.acquire("a") and not c.acquire("a") and c.acquire("b")
    c.release("a")
    assert c.acquire("a")
