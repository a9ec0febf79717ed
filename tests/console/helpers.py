"""A live console on a free loopback port and a cookie-keeping HTTP client (stdlib only):
shared by the console tests and bench/console.py."""

from __future__ import annotations

import http.cookiejar
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from privtune.serve.service import serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live(app: Any, **ssl: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields the base URL (no trailing slash)."""
    with serving(app, **ssl) as url:
        yield url.removesuffix("/v1")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """A cookie-keeping HTTP client that never follows redirects."""

    def __init__(self, base: str, context: Any = None) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers: list[Any] = [urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, path: str, form: dict[str, str] | None = None, *,
                headers: dict[str, str] | None = None, method: str | None = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], str]:
        data = raw if raw is not None else (
            urllib.parse.urlencode(form).encode() if form is not None else None)
        h = dict(headers or {})
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, headers=h, method=method)
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, \
                    r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, \
                exc.read().decode("utf-8", "replace")

    def get(self, path: str, **kw: Any) -> tuple[int, dict[str, str], str]:
        return self.request(path, **kw)

    def csrf(self, path: str = "/login") -> str:
        status, _, html = self.get(path)
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, f"no CSRF token on {path} ({status})"
        return m.group(1)

    def login(self, key: str) -> tuple[int, dict[str, str], str]:
        token = self.csrf("/login")
        return self.request("/login", {"csrf": token, "api_key": key, "next": "/"})

    def post(self, path: str, form: dict[str, str] | None = None, *, page: str | None = None,
             **kw: Any) -> tuple[int, dict[str, str], str]:
        """A form post with the CSRF token of ``page`` (default ``path``'s page)."""
        token = self.csrf(page or "/")
        return self.request(path, {"csrf": token, **(form or {})}, **kw)

    def cookie(self, name: str) -> Any:
        return next((c for c in self.jar if c.name == name), None)
