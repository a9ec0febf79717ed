"""Retention (GDPR Art. 5(1)(e) storage limitation, CPRA retention disclosure): the periods of
the workspace config (``retention``), what would expire, crypto-shredding what did, legal holds.

Every vault version falls in a class by its name and kind (:func:`retention_class`):

* ``raw``: ingested export tables and texts (``employees``, ``tickets``, ...), ``raw_days``
  after the version was written (default 90);
* ``deidentified``: ``*-deid`` tables and texts and the training sets, ``deidentified_days``
  after they were written (default 730: two years);
* ``adapter``: adapters and checkpoints, ``adapter_days_after_superseded`` after a newer version
  of the same name superseded them (default 365); the latest version never expires;
* ``report``: audit reports, ``report_days`` (default: kept);
* ``kept``: key objects, policies, the schema mapping, canaries, subject requests: never.

``retention.objects`` gives one object name its own period (counted as for its class). A
version expires when ``now >= expires_at`` (the boundary instant itself is expired). A legal
hold (``retention_holds``, row-MAC'd) on a name or on one ``name@version`` blocks its expiry;
``apply`` reads the holds afresh (a hold placed after ``plan`` counts) and re-checks them for
each version inside the transaction that destroys its key, so a hold committed while ``apply``
runs still keeps the version (``Applied.held_meanwhile``).

:func:`retention_plan` needs ``records.read``; :func:`apply_retention`, :func:`place_hold` and
:func:`release_hold` need ``retention.manage`` (admin, DPO), and applying shreds under it
(``Guard.acting_for``): each shred is audited with ``via=retention.manage``. A shred reaches
every backup repository ``backup create`` recorded (the version's data key leaves the backup's
key escrow: :func:`privtune.pipeline.backups.shred_in_recorded_backups`, the same call erasure
uses); a repository that cannot be opened is reported pending for ``backup shred-sync``. ``now`` is
injectable (tests freeze the clock). Output names objects and refs only, never a person's data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privtune.errors import InputError, NotFoundError
from privtune.pipeline.backups import shred_in_recorded_backups
from privtune.store.models import ObjectVersion, utcnow
from privtune.store.subject_models import RetentionHold, ensure_subject_tables
from privtune.vault import names
from privtune.workspace import RetentionConfig, Workspace

_KEPT_NAMES = frozenset({"key object", "de-identification policy", "export schema mapping",
                         "canary secrets", "subject request"})
_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@[0-9]{1,9})?$")


@dataclass(frozen=True)
class Expiry:
    ref: str
    cls: str
    #: when it expires (None: never); the hold that blocks it, if any
    expires_at: datetime | None
    expired: bool
    held_by: str = ""
    shredded: bool = False

    @property
    def due(self) -> bool:
        """Would ``retention apply`` shred it now?"""
        return self.expired and not self.held_by and not self.shredded


def retention_class(name: str, kind: str) -> str:
    """The retention class of a version by its (reserved) name and kind."""
    cls = names.name_class(name)
    if cls is not None and cls.label in _KEPT_NAMES:
        return "kept"
    if kind == "adapter":
        return "adapter"
    if kind == "report":
        return "report"
    if kind == "examples" or name.endswith("-deid"):
        return "deidentified"
    if kind == "key":
        return "kept"
    return "raw"


def _days(cfg: RetentionConfig, name: str, cls: str) -> int | None:
    if name in cfg.objects:
        return cfg.objects[name]
    return {"raw": cfg.raw_days, "deidentified": cfg.deidentified_days,
            "adapter": cfg.adapter_days_after_superseded, "report": cfg.report_days}.get(cls)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite stores it zone-less


def _holds(ws: Workspace) -> dict[str, RetentionHold]:
    ensure_subject_tables(ws.store.engine)
    with ws.store.session() as s:
        return {h.target: h for h in s.scalars(select(RetentionHold)) if h.active}


def _expiries(ws: Workspace, now: datetime) -> list[Expiry]:
    cfg = ws.config.retention
    holds = _holds(ws)
    gone = ws.vault.shredded()
    with ws.store.session() as s:
        rows = list(s.scalars(select(ObjectVersion)
                              .order_by(ObjectVersion.name, ObjectVersion.version)))
    by_name: dict[str, list[ObjectVersion]] = {}
    for r in rows:
        by_name.setdefault(r.name, []).append(r)
    out = []
    for name, versions in by_name.items():
        for i, r in enumerate(versions):
            cls = retention_class(name, r.kind)
            days = None if cls == "kept" else _days(cfg, name, cls)
            start: datetime | None = _utc(r.created_at)
            if cls == "adapter":  # counted from when the next version superseded it
                start = _utc(versions[i + 1].created_at) if i + 1 < len(versions) else None
            at = start + timedelta(days=days) if days is not None and start is not None else None
            hold = holds.get(r.ref) or holds.get(name)
            out.append(Expiry(r.ref, cls, at, at is not None and now >= at,
                              hold.held_by if hold else "", r.ref in gone))
    return out


def retention_plan(ws: Workspace, *, now: datetime | None = None) -> list[Expiry]:
    """Every version with a retention period: when it expires, whether it has, and any hold."""
    ws.access.check("records.read", "retention", action="plan")
    return [e for e in _expiries(ws, _utc(now or utcnow())) if e.expires_at is not None]


@dataclass
class Applied:
    """What ``retention apply`` did: the versions shredded, and in which backups."""

    shredded: list[str]
    #: ``{"repo", "keys_removed"}`` of every recorded backup repository the shreds reached
    backups_shredded: list[dict[str, Any]] = field(default_factory=list)
    #: ``{"repo", "reason", "action"}`` of every recorded repository that could not be opened
    backups_pending: list[dict[str, Any]] = field(default_factory=list)
    #: due versions a legal hold placed while ``apply`` ran kept (re-checked at the shred)
    held_meanwhile: list[str] = field(default_factory=list)


class _Held(Exception):
    """A legal hold found by the re-check inside a shred's transaction."""


def _recheck_holds(ref: str) -> Callable[[Session], None]:
    """The shred's re-check: an active hold on ``ref`` or on its name, read inside the shred's
    own transaction (under the write lock: a hold committed after the plan or after this
    apply's first read of the holds is seen; one placed later waits for the shred)."""
    name = ref.split("@", 1)[0]

    def check(s: Session) -> None:
        for target in (ref, name):
            hold = s.get(RetentionHold, target)
            if hold is not None and hold.active:
                raise _Held(target)

    return check


def apply_retention(ws: Workspace, *, now: datetime | None = None) -> Applied:
    """Crypto-shred every expired version that no legal hold protects, in the vault and in
    every backup repository the workspace recorded (the keys leave their escrow: the copies in
    the backups can no longer be read either); a repository it cannot open is pending
    (``privtune backup shred-sync``)."""
    when = _utc(now or utcnow())
    with ws.access.acting_for("retention.manage", "retention", action="apply",
                              at=when.isoformat(timespec="seconds")):
        due = [e.ref for e in _expiries(ws, when) if e.due]
        done, held = [], []
        for ref in due:
            try:
                done.append(ws.vault.shred(ref, recheck=_recheck_holds(ref)))
            except _Held:
                held.append(ref)
        if not done:
            return Applied([], held_meanwhile=held)
        reached = shred_in_recorded_backups(ws, done)
        return Applied(done, reached["shredded"], reached["pending"], held)


def _check_target(target: str) -> str:
    if not _TARGET.match(target):
        raise InputError(f"legal hold: '{target[:40]}' is not an object name or name@version")
    return target


def place_hold(ws: Workspace, target: str, reason: str = "") -> RetentionHold:
    """Place a legal hold on an object name (every version) or one ``name@version``."""
    target = _check_target(target)
    who = ws.access.check("retention.manage", target, action="hold")
    name = target.split("@", 1)[0]
    if ws.vault.latest_kind(name) is None:
        raise NotFoundError(f"legal hold: no object '{name}' in the vault")
    ensure_subject_tables(ws.store.engine)
    with ws.store.session() as s:
        row = s.get(RetentionHold, target)
        if row is None:
            row = RetentionHold(target=target)
            s.add(row)
        row.active, row.reason, row.held_by, row.held_at = True, reason[:200], who.user_id, utcnow()
        row.released_by, row.released_at = "", None
    return row


def release_hold(ws: Workspace, target: str) -> RetentionHold:
    """Release a legal hold; expiry applies again from the next ``retention apply``."""
    target = _check_target(target)
    who = ws.access.check("retention.manage", target, action="release-hold")
    ensure_subject_tables(ws.store.engine)
    with ws.store.session() as s:
        row = s.get(RetentionHold, target)
        if row is None or not row.active:
            raise NotFoundError(f"legal hold: no active hold on '{target}'")
        row.active, row.released_by, row.released_at = False, who.user_id, utcnow()
    return row


def list_holds(ws: Workspace) -> list[RetentionHold]:
    ws.access.check("records.read", "retention", action="holds")
    return sorted(_holds(ws).values(), key=lambda h: h.target)
