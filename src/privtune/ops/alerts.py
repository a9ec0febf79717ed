"""``privtune alerts``: run the access-anomaly detector (:mod:`privtune.ops.detect`) over the audit
log, keep its alerts (table ``alerts``, row-MAC'd), explain and acknowledge them.

Each new alert is written to the audit log (``alerts.manage``, ``action=raise`` with the rule,
the key and the score) and, when asked, to syslog (``LOG_AUTH``, warning). Every call checks
``alerts.manage`` first (admin, auditor, DPO).
"""

from __future__ import annotations

import logging
import logging.handlers
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from privtune.access.guard import Guard
from privtune.audit.log import AuditLog
from privtune.errors import InputError, NotFoundError
from privtune.ops.detect import Event, detect
from privtune.store import MetadataStore
from privtune.store.ops_models import AlertRow, ensure_ops_tables

NOTE_MAX = 200


@dataclass(frozen=True)
class AlertSite:
    """The parts of a workspace the alerts work with (never the Workspace)."""

    guard: Guard
    store: MetadataStore
    log: AuditLog


def _syslog(row: AlertRow) -> None:  # pragma: no cover - depends on the host's syslog
    logger = logging.getLogger("privtune.alerts")
    try:
        handler = logging.handlers.SysLogHandler(address="/dev/log",
                                                 facility=logging.handlers.SysLogHandler.LOG_AUTH)
    except OSError:
        return
    logger.addHandler(handler)
    try:
        logger.warning("privtune alert %s rule=%s key=%s score=%.1f", row.id, row.rule, row.key,
                       row.score)
    finally:
        logger.removeHandler(handler)
        handler.close()


def scan(site: AlertSite, *, syslog: bool = False) -> list[AlertRow]:
    """Run the detector over the whole log; store and audit every alert not raised before."""
    upto = site.log.last_seq()
    site.guard.check("alerts.manage", "audit-log", action="scan", upto=upto)
    ensure_ops_tables(site.store.engine)
    events = (Event.from_record(r) for r in site.log.iter_events() if r.seq <= upto
              and not (r.op == "alerts.manage" and r.outcome == "allow"))
    found = detect(events)
    with site.store.session() as s:
        known = set(s.scalars(select(AlertRow.dedup)))
    new: list[AlertRow] = []
    for a in found:
        if a.dedup in known:
            continue
        row = AlertRow(id=f"al-{secrets.token_hex(5)}", dedup=a.dedup, rule=a.rule, key=a.key,
                       window_start=a.window_start, window_end=a.window_end,
                       first_seq=a.first_seq, last_seq=a.last_seq, score=a.score,
                       explanation=a.explanation)
        site.guard.check("alerts.manage", row.id, action="raise", rule=a.rule, key=a.key,
                         score=round(a.score, 1), events=f"{a.first_seq}-{a.last_seq}")
        with site.store.session() as s:
            s.add(row)
        known.add(a.dedup)
        new.append(row)
        if syslog:
            _syslog(row)
    return new


def list_alerts(site: AlertSite, *, include_acked: bool = False) -> list[AlertRow]:
    site.guard.check("alerts.manage", "alerts", action="list")
    ensure_ops_tables(site.store.engine)
    with site.store.session() as s:
        q = select(AlertRow).order_by(AlertRow.first_seq)
        if not include_acked:
            q = q.where(AlertRow.status == "open")
        return list(s.scalars(q))


def explain(site: AlertSite, alert_id: str) -> tuple[AlertRow, str]:
    site.guard.check("alerts.manage", alert_id, action="explain")
    ensure_ops_tables(site.store.engine)
    with site.store.session() as s:
        row = s.get(AlertRow, alert_id)
    if row is None:
        raise NotFoundError(f"no alert '{alert_id}'")
    lines = [f"{row.id}: rule {row.rule}, key {row.key}, events {row.first_seq}-{row.last_seq}, "
             f"{row.window_start:%Y-%m-%d %H:%M}-{row.window_end:%H:%M} UTC, score {row.score:.1f}, "
             f"{row.status}" + (f" by {row.acked_by} ({row.note})" if row.status == "acked" else "")]
    for k, v in sorted(row.explanation.items()):
        lines.append(f"  {k}: {v}")
    lines.append(f"  see: privtune audit-log show --since {row.window_start:%Y-%m-%dT%H:%M}")
    return row, "\n".join(lines)


def ack(site: AlertSite, alert_id: str, note: str = "") -> AlertRow:
    who = site.guard.check("alerts.manage", alert_id, action="ack")
    if len(note) > NOTE_MAX or any(not c.isprintable() for c in note):
        raise InputError(f"the note must be one printable line of at most {NOTE_MAX} characters",
                         field="note")
    ensure_ops_tables(site.store.engine)
    with site.store.session() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise NotFoundError(f"no alert '{alert_id}'")
        row.status, row.acked_by, row.acked_at, row.note = "acked", who.user_id, datetime.now(UTC), note
    with site.store.session() as s:
        out = s.get(AlertRow, alert_id)
    assert out is not None
    return out
