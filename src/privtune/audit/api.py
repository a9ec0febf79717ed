"""Library API over the audit log; every call is itself checked (``audit.read``) and audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from privtune.audit.query import EventFilter, select_events
from privtune.audit.query import export as _export
from privtune.audit.verify import VerifyReport, verify_log

if TYPE_CHECKING:
    from privtune.workspace import Workspace


def verify(ws: Workspace) -> VerifyReport:
    ws.guard("audit.read", "audit-log", action="verify")
    return verify_log(ws.audit, ws.root)


def show(ws: Workspace, f: EventFilter | None = None) -> list[dict[str, Any]]:
    ws.guard("audit.read", "audit-log", action="show")
    return select_events(ws.store, f or EventFilter())


def export(ws: Workspace, fmt: str, f: EventFilter | None = None) -> str:
    ws.guard("audit.read", "audit-log", action="export", format=fmt[:8])
    return _export(select_events(ws.store, f or EventFilter()), fmt)


def checkpoint(ws: Workspace) -> int:
    ws.guard("audit.read", "audit-log", action="checkpoint")
    return ws.audit.checkpoint()
