"""Reading the audit log: filtered listing, JSONL and CSV export (no PII is ever in it).

Events come back as ``AuditRecord``s (``privtune.audit.events``), never as loose dicts.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from privtune.audit.chain import ROW_COLUMNS
from privtune.audit.events import AuditRecord
from privtune.errors import InputError
from privtune.store import MetadataStore
from privtune.store.audit_models import AuditEvent

OUTCOMES = ("allow", "deny")
FORMATS = ("jsonl", "csv")


@dataclass
class EventFilter:
    actor: str | None = None
    op: str | None = None          # exact, or a prefix ending in '.' / '*' ("data." or "data.*")
    object: str | None = None      # exact ref or bare name (matches every version)
    outcome: str | None = None
    since: str | None = None       # ISO date or datetime (UTC)
    until: str | None = None
    limit: int | None = None
    before: int | None = None      # only events with seq < before (a page of older events)


def _ts(text: str, field: str) -> str:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise InputError("expected an ISO date such as 2026-11-28 or 2026-11-28T10:00",
                         field=field) from None


def select_events(store: MetadataStore, f: EventFilter) -> list[AuditRecord]:
    q = select(AuditEvent).order_by(AuditEvent.seq)
    if f.actor:
        q = q.where(AuditEvent.actor == f.actor)
    if f.op:
        if f.op.endswith("*") or f.op.endswith("."):
            q = q.where(AuditEvent.op.startswith(f.op.rstrip("*")))
        else:
            q = q.where(AuditEvent.op == f.op)
    if f.object:
        q = q.where((AuditEvent.object == f.object) | AuditEvent.object.startswith(f.object + "@"))
    if f.outcome:
        if f.outcome not in OUTCOMES:
            raise InputError(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
        q = q.where(AuditEvent.outcome == f.outcome)
    if f.since:  # ISO timestamps of one format compare as strings
        q = q.where(AuditEvent.ts >= _ts(f.since, "since")[:26])
    if f.until:
        q = q.where(AuditEvent.ts < _ts(f.until, "until")[:26])
    if f.before is not None:
        q = q.where(AuditEvent.seq < f.before)
    if f.limit is not None:
        if f.limit < 1:
            raise InputError("limit must be positive", field="limit")
        q = q.order_by(None).order_by(AuditEvent.seq.desc()).limit(f.limit)
    with store.session() as s:
        rows = s.scalars(q).all()
    out = [AuditRecord.from_mapping({c: getattr(r, c) for c in ROW_COLUMNS}) for r in rows]
    out.sort(key=lambda e: e.seq)
    return out


def to_jsonl(events: list[AuditRecord]) -> str:
    lines = []
    for e in events:
        rec = e.to_dict()
        rec["detail"] = e.detail_map()
        lines.append(json.dumps(rec, sort_keys=False, ensure_ascii=True))
    return "".join(line + "\n" for line in lines)


def to_csv(events: list[AuditRecord]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ROW_COLUMNS)
    for e in events:
        w.writerow(e.row())
    return buf.getvalue()


def export(events: list[AuditRecord], fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}", field="format")
    return to_jsonl(events) if fmt == "jsonl" else to_csv(events)
