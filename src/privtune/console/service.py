"""Wiring: a workspace opened by the operator becomes a running console.

:func:`build` checks ``console.serve`` (the console holds the workspace open, its vault
unlocked, and acts as each signed-in user) and makes the app; it is served by the serving
stack's runner (:func:`privtune.serve.service.serve_app`: uvicorn, graceful shutdown), over
TLS when given a certificate (:func:`privtune.serve.service.self_signed_cert` makes one).
"""

from __future__ import annotations

import threading

from fastapi import FastAPI

from privtune.console.app import ConsoleSettings, create_console
from privtune.workspace import Workspace


def build(ws: Workspace, *, secure: bool = False,
          settings: ConsoleSettings | None = None) -> FastAPI:
    """The console app for ``ws`` (checks ``console.serve`` as the operator, audited)."""
    ws.guard("console.serve", "console", action="start", tls=secure)
    return create_console(ws, secure=secure, settings=settings, lock=threading.Lock())
