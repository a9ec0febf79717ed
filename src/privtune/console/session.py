"""Server-side sessions and CSRF tokens.

A session id is 256 random bits, sent only as a cookie (HttpOnly, SameSite=Strict, Path=/,
Secure and the ``__Host-`` prefix under TLS) and kept on the server only as its SHA-256. A
session is anonymous until login; a login always makes a **new** session (the anonymous one is
dropped), so an id planted before login is worth nothing after it (session fixation). Each
session has its own CSRF token (256 bits), required in every form and compared in constant
time. Sessions end after ``idle_s`` without a request, ``max_age_s`` after login, on logout,
and when the key or user behind them is revoked, expires or is disabled (checked on every
request by the caller).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from privtune.access.principal import Principal


@dataclass
class Session:
    csrf: str
    created: float
    seen: float
    principal: Principal | None = None
    #: Refs whose masked values this session revealed (each reveal is audited).
    revealed: set[str] = field(default_factory=set)


class Sessions:
    def __init__(self, *, idle_s: float = 1800.0, max_age_s: float = 8 * 3600.0,
                 max_sessions: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s, self.max_age_s, self.max_sessions = idle_s, max_age_s, max_sessions
        self.clock = clock
        self._lock = threading.Lock()
        self._by_digest: OrderedDict[str, Session] = OrderedDict()

    @staticmethod
    def _digest(sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()

    def new(self, principal: Principal | None = None) -> tuple[str, Session]:
        """A fresh session (its id is returned once, for the cookie)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        sess = Session(csrf=secrets.token_urlsafe(32), created=now, seen=now, principal=principal)
        with self._lock:
            self._by_digest[self._digest(sid)] = sess
            while len(self._by_digest) > self.max_sessions:  # oldest first (anonymous ones)
                self._by_digest.popitem(last=False)
        return sid, sess

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid``, or None (unknown, idle too long, too old)."""
        if not sid or len(sid) > 100:
            return None
        d = self._digest(sid)
        now = self.clock()
        with self._lock:
            sess = self._by_digest.get(d)
            if sess is None:
                return None
            if now - sess.seen > self.idle_s or now - sess.created > self.max_age_s:
                del self._by_digest[d]
                return None
            sess.seen = now
            self._by_digest.move_to_end(d)
            return sess

    def drop(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._by_digest.pop(self._digest(sid), None)

    def __len__(self) -> int:
        return len(self._by_digest)


def csrf_ok(sess: Session | None, token: str | None) -> bool:
    return bool(sess is not None and token and hmac.compare_digest(sess.csrf.encode(),
                                                                    token.encode()))
