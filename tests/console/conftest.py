"""Console tests: a workspace with one user per role, planted personal data in its person
table (and so in its PII scan report), a live console on a free loopback port, and a plain
HTTP client that keeps its own cookies (stdlib only).

Browser tests (test_browser.py) drive Debian's Chromium with Playwright; they skip with one
line only when no Chromium is installed and CI is not set (under CI a missing Chromium fails)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from privtune.access import admin

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions
ROLES = ("admin", "data-steward", "ml-engineer", "auditor", "viewer", "dpo", "app")
#: Personal data planted in the person table: it may appear on no page, for any role, unless
#: revealed (audited) by a role that may read personal data.
PLANTED = {"first_name": "Ingrid", "last_name": "Halvorsen", "email": "ingrid.halvorsen@acme.example",
           "phone": "+47 912 34 567"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live(app: Any, **ssl: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields the base URL (no trailing slash)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="off", **ssl)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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


def add_users(ws: Any) -> dict[str, str]:
    keys = {"admin": ADMIN_KEY}
    for role in ROLES:
        if role != "admin":
            keys[role] = admin.add_user(ws.access, ws.store, f"c-{role}", role).secret
    keys["dpo2"] = admin.add_user(ws.access, ws.store, "c-dpo2", "dpo").secret
    return keys


def plant_people(ws: Any, root: Path) -> None:
    """A small company whose first employee carries the planted values; ingested and scanned
    (the scan report holds masked shapes of them)."""
    import csv

    from privtune.pipeline.deid import scan
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    export = root / "export"
    generate_company(12, 7, export, fmt="csv")
    path = export / "employees.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys())
    for k, v in PLANTED.items():
        if k in rows[0]:
            rows[0][k] = v
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    refs = ingest_export(ws, export).outputs
    scan(ws, refs, workers=1)


def no_planted(html: str) -> None:
    low = html.lower()
    for kind, value in PLANTED.items():
        assert value.lower() not in low, f"planted {kind} on a page"


@pytest.fixture(scope="module")
def console_ws(tmp_path_factory: pytest.TempPathFactory, make_workspace: Any) -> Iterator[dict]:
    from privtune.console.service import build

    root = tmp_path_factory.mktemp("console")
    ws = make_workspace(root / "ws")
    keys = add_users(ws)
    plant_people(ws, root)
    app = build(ws)
    with live(app) as url:
        yield {"ws": ws, "url": url, "keys": keys, "app": app, "root": root}
    ws.close()
