"""Incident response: open (with ``aware_at``), lockdown, GDPR Art. 33 / 34 drafts, close.

Every function takes an :class:`OpsSite` (the workspace's parts) and checks first with the
guard, which writes the audit event before anything changes (``incident.manage``; the lockdown's
steps are also checked one by one: ``user.manage`` for each revoked key, ``key.write`` for the
KEK rotation, ``release.approve`` for each quarantined release, ``lockdown.set``).

The lockdown is the workspace lockdown of :func:`privtune.access.admin.set_lockdown` (one
switch; ``privtune access lockdown on`` flips only it) plus what an incident needs around it:

1. every API key revoked except those of break-glass users (refused when no break-glass user
   holds a live key: nobody could act any more);
2. the KEK rotated (every data key and key file re-wrapped; with ``new_passphrase`` under a new
   passphrase) and every older KEK version retired (its parameters erased);
3. every ``released`` model quarantined in the release registry (export refuses it);
4. exports frozen while the incident is open (:func:`exports_frozen`, checked by export even
   for the break-glass admin);
5. the caller's own key revoked (unless break-glass), then the lockdown switched on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from privtune.access import admin
from privtune.access.guard import Guard
from privtune.access.roles import BREAK_GLASS
from privtune.errors import InputError, NotFoundError, PrivacyPolicyError
from privtune.fsutil import atomic_write_text, private_dir
from privtune.gate.registry import change_state, entries
from privtune.gate.site import GateSite
from privtune.lineage.graph import build_graph
from privtune.store import MetadataStore
from privtune.store.access_models import ApiKey, User
from privtune.store.audit_models import SubjectIndex
from privtune.store.ops_models import Incident, ensure_ops_tables
from privtune.vault import KekSpec, Vault

SEVERITIES = ("low", "medium", "high", "critical")
NOTIFY_HOURS = 72
TEXT_MAX = 200
LESSONS_MAX = 4000

#: What each source object holds, for Art. 33(3)(a) "categories of personal data records".
CATEGORIES = {
    "employees": "HR master data (identity, contact, job, pay band, dates)",
    "reviews": "performance review texts",
    "tickets": "HR ticket texts (requests, complaints, leave, health mentions)",
    "notes": "manager notes",
    "leave": "leave and absence records",
}
#: Likely consequences by severity (Art. 33(3)(c)); the operator's summary is added.
CONSEQUENCES = {
    "low": "limited: data was de-identified or encrypted and no key is known to be exposed",
    "medium": "possible disclosure of pseudonymised HR records to an unauthorised person",
    "high": "likely disclosure of HR records that identify employees (reputation, discrimination, "
            "identity-fraud risk)",
    "critical": "disclosure of identifying HR records including special categories (health, "
                "complaints): high risk to the rights and freedoms of the employees concerned",
}


@dataclass(frozen=True)
class OpsSite:
    """The parts of a workspace incident response works with (never the Workspace)."""

    guard: Guard
    store: MetadataStore
    vault: Vault
    gate: GateSite
    root: Path


def _line(text: str, field: str, limit: int = TEXT_MAX) -> str:
    if len(text) > limit or any(not c.isprintable() for c in text):
        raise InputError(f"{field} must be printable text of at most {limit} characters "
                         "(no personal data: ids and counts only)", field=field)
    return text


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _get(store: MetadataStore, incident_id: str | None) -> Incident:
    ensure_ops_tables(store.engine)
    with store.session() as s:
        if incident_id:
            row = s.get(Incident, incident_id)
        else:
            row = s.scalars(select(Incident).where(Incident.status != "closed")
                            .order_by(Incident.opened_at.desc())).first()
    if row is None:
        raise NotFoundError(f"no incident '{incident_id}'" if incident_id else "no open incident")
    return row


def exports_frozen(store: MetadataStore) -> str | None:
    """The id of an open incident that froze exports, or None (read by export)."""
    ensure_ops_tables(store.engine)
    with store.session() as s:
        row = s.scalars(select(Incident).where(Incident.status != "closed",
                                               Incident.exports_frozen.is_(True))).first()
    return None if row is None else row.id


def require_exports_open(store: MetadataStore) -> None:
    frozen = exports_frozen(store)
    if frozen is not None:
        raise PrivacyPolicyError(f"exports are frozen by incident {frozen} until it is closed "
                                 "(privtune incident close)")


def open_incident(site: OpsSite, severity: str, *, summary: str = "", contact: str = "",
                  aware_at: datetime | None = None, objects: list[str] | None = None) -> Incident:
    """Record a new incident; ``aware_at`` (default now) starts the 72-hour clock."""
    if severity not in SEVERITIES:
        raise InputError(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
    _line(summary, "summary")
    _line(contact, "contact")
    refs = [site.vault.resolve(r) for r in objects or []]
    aware = _utc(aware_at or datetime.now(UTC))
    if aware > datetime.now(UTC) + timedelta(minutes=5):
        raise InputError("aware_at is in the future", field="aware_at")
    iid = f"inc-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    who = site.guard.check("incident.manage", iid, action="open", severity=severity,
                           aware_at=aware.isoformat(timespec="seconds"), objects=len(refs))
    ensure_ops_tables(site.store.engine)
    row = Incident(id=iid, severity=severity, summary=summary, contact=contact, objects=refs,
                   aware_at=aware, opened_by=who.user_id)
    with site.store.session() as s:
        s.add(row)
    return _get(site.store, iid)


def list_incidents(site: OpsSite) -> list[Incident]:
    site.guard.check("incident.manage", "incidents", action="list")
    ensure_ops_tables(site.store.engine)
    with site.store.session() as s:
        return list(s.scalars(select(Incident).order_by(Incident.opened_at)))


def lockdown(site: OpsSite, incident_id: str | None = None, *, new_passphrase: bool = False,
             kek: KekSpec | None = None) -> dict[str, Any]:
    """Contain an incident (the steps in the module docstring); returns what was done."""
    who = site.guard.check("incident.manage", incident_id or "open-incident", action="lockdown")
    inc = _get(site.store, incident_id)
    if inc.status == "closed":
        raise InputError(f"incident {inc.id} is closed")
    now = datetime.now(UTC)
    with site.store.session() as s:
        live = [(k.key_id, u.role) for k, u in s.execute(
            select(ApiKey, User).join(User, User.id == ApiKey.user_id)
            .where(ApiKey.revoked_at.is_(None))).all()
            if k.expires_at is None or _utc(k.expires_at) > now]
    if not any(role == BREAK_GLASS for _, role in live):
        raise InputError("no break-glass user holds a live API key: create one first "
                         "(privtune access add-user NAME --role break-glass) or nobody could act "
                         "during the lockdown")
    revoke = [kid for kid, role in live if role != BREAK_GLASS and kid != who.key_id]
    for kid in revoke:
        admin.revoke_key(site.guard, site.store, kid)
    # The KEK: a new version (new passphrase if asked), every older version retired.
    site.guard.check("key.write", "keyring", action="rotate", incident=inc.id)
    keyring = site.vault.keyring
    spec = kek or (KekSpec("passphrase", new_passphrase=True) if new_passphrase else None)
    new_version, rewrapped = keyring.rotate(spec)
    retired = []
    for info in keyring.status():
        if info.version != new_version and info.status != "retired":
            keyring.retire(info.version)
            retired.append(info.version)
    quarantined = []
    for rel in entries(site.store):
        if rel.state == "released":
            change_state(site.gate, rel.model_ref, "quarantined", f"incident {inc.id}")
            quarantined.append(rel.id)
    own = who.role != BREAK_GLASS and who.key_id in {k for k, _ in live}
    measures = {"at": now.isoformat(timespec="seconds"), "keys_revoked": len(revoke) + own,
                "kek_version": new_version, "data_keys_rewrapped": rewrapped,
                "kek_versions_retired": retired, "releases_quarantined": quarantined,
                "exports_frozen": True, "lockdown": True,
                "break_glass_keys": sum(1 for _, r in live if r == BREAK_GLASS)}
    site.guard.check("incident.manage", inc.id, action="contained",
                     keys_revoked=measures["keys_revoked"], kek_version=new_version,
                     releases_quarantined=len(quarantined))
    with site.store.session() as s:
        row = s.get(Incident, inc.id)
        assert row is not None
        row.exports_frozen, row.status, row.measures = True, "contained", measures
    if own:  # this session was authenticated already: it may still switch the lockdown on
        admin.revoke_key(site.guard, site.store, who.key_id)
    admin.set_lockdown(site.guard, site.store, True)
    return measures


@dataclass
class Scope:
    """What lineage says the incident concerns: counts, never identities."""

    objects: list[str]
    sources: list[str]
    subjects: int
    records: int
    categories: list[str]


def scope(store: MetadataStore, vault: Vault, objects: list[str]) -> Scope:
    """Subjects and records concerned: every object named (none: every object of the vault) and
    everything upstream of it, counted in the subject index (distinct keyed subjects; one record
    per subject per object holding their data)."""
    g = build_graph(vault)
    named = list(objects) or sorted(g.kinds)
    involved = set(named)
    for ref in named:
        involved.update(g.upstream(ref))
    with store.session() as s:
        rows = s.execute(select(SubjectIndex.object_ref, func.count())
                         .where(SubjectIndex.object_ref.in_(sorted(involved)))
                         .group_by(SubjectIndex.object_ref)).all()
        subjects = s.scalar(select(func.count(func.distinct(SubjectIndex.subject)))
                            .where(SubjectIndex.object_ref.in_(sorted(involved)))) or 0
    sources = sorted(ref for ref, _ in rows)
    cats = sorted({CATEGORIES.get(ref.split("@")[0], f"records of '{ref.split('@')[0]}'")
                   for ref in sources})
    return Scope(named, sources, int(subjects), int(sum(n for _, n in rows)), cats)


def report(site: OpsSite, incident_id: str | None = None, *,
           now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> tuple[Path, str]:
    """Write the Art. 33(3)(a-d) notification draft and the Art. 34 communication to
    ``reports/incidents/<id>.md``; returns its path and text (counts only, no identities)."""
    site.guard.check("incident.manage", incident_id or "open-incident", action="report")
    inc = _get(site.store, incident_id)
    sc = scope(site.store, site.vault, list(inc.objects or []))
    aware = _utc(inc.aware_at)
    deadline = aware + timedelta(hours=NOTIFY_HOURS)
    t = now()
    left = deadline - t
    late = left.total_seconds() < 0
    m = inc.measures or {}
    high = inc.severity in ("high", "critical")
    measures = [
        f"{m.get('keys_revoked', 0)} API key(s) revoked (break-glass keys kept: "
        f"{m.get('break_glass_keys', 0)})" if m else "no lockdown yet (privtune incident lockdown)",
    ]
    if m:
        measures += [f"key-encryption key rotated to version {m['kek_version']} "
                     f"({m['data_keys_rewrapped']} data keys re-wrapped; versions "
                     f"{m['kek_versions_retired']} retired)",
                     f"{len(m['releases_quarantined'])} released model(s) quarantined",
                     "exports frozen until the incident is closed; workspace in lockdown "
                     f"since {m['at']}"]
    lines = [
        f"# Personal data breach {inc.id}: notification draft (GDPR Art. 33)",
        "",
        f"- severity: **{inc.severity}**; status: {inc.status}",
        f"- controller aware at: {aware.isoformat(timespec='seconds')}",
        f"- notify the supervisory authority by: **{deadline.isoformat(timespec='seconds')}** "
        f"(72 hours, Art. 33(1)); " + (f"**{-left.total_seconds() / 3600:.1f} h late: state the "
                                       "reasons for the delay**" if late else
                                       f"{left.total_seconds() / 3600:.1f} h left"),
        "",
        "## (a) Nature of the breach, categories and approximate numbers",
        f"- nature: {inc.summary or '(describe what happened)'}",
        f"- objects concerned: {len(sc.objects)} ({', '.join(sc.objects[:12])}"
        f"{', ...' if len(sc.objects) > 12 else ''}), drawing on {len(sc.sources)} source "
        "object(s) by lineage",
        f"- categories of data subjects: employees of the controller ({sc.subjects} data "
        "subjects, approximate: every employee indexed in the sources concerned)",
        f"- categories of personal data records: {'; '.join(sc.categories) or 'none indexed'}",
        f"- approximate number of personal data records concerned: {sc.records} "
        "(one per employee per source object)",
        "",
        "## (b) Contact point",
        f"- {inc.contact or '(the data protection officer: name and contact details)'}",
        "",
        "## (c) Likely consequences",
        f"- {CONSEQUENCES[inc.severity]}",
        "",
        "## (d) Measures taken or proposed",
        *[f"- {x}" for x in measures],
        "- proposed: rotate every secret the affected keys could read, review the audit log "
        "(privtune audit-log show) and the access alerts, restore from a verified backup if "
        "data was altered",
        "",
        "## Communication to the data subjects (GDPR Art. 34)",
        ("Required: the breach is likely to result in a high risk to the employees' rights and "
         "freedoms (Art. 34(1))." if high else
         "Probably not required (Art. 34(3)): document why the risk is not high; keep this draft."),
        "",
        "> We are writing to tell you about a security incident affecting HR data we hold about "
        f"you. On {aware:%Y-%m-%d} we became aware that {inc.summary or '(what happened, plainly)'}. "
        f"The data concerned may include: {'; '.join(sc.categories) or '(categories)'}. "
        f"Likely consequences: {CONSEQUENCES[inc.severity]}. We have {', '.join(measures[:2])}. "
        f"You can contact {inc.contact or '(the data protection officer)'} with any question.",
        "",
    ]
    text = "\n".join(lines)
    out = site.root / "reports" / "incidents" / f"{inc.id}.md"
    private_dir(out.parent)
    atomic_write_text(out, text)
    with site.store.session() as s:
        row = s.get(Incident, inc.id)
        assert row is not None
        row.reported_at = t
    return out, text


def close_incident(site: OpsSite, incident_id: str | None, lessons: str) -> Incident:
    """Close with the lessons learned; exports thaw (the lockdown is left by the break-glass
    admin: ``privtune access lockdown off``; released models stay quarantined until reviewed)."""
    who = site.guard.check("incident.manage", incident_id or "open-incident", action="close",
                           lessons_chars=len(lessons))
    inc = _get(site.store, incident_id)
    if not lessons.strip():
        raise InputError("closing an incident needs its lessons learned", field="lessons")
    _line(lessons.replace("\n", " "), "lessons", LESSONS_MAX)
    if inc.status == "closed":
        raise InputError(f"incident {inc.id} is already closed")
    with site.store.session() as s:
        row = s.get(Incident, inc.id)
        assert row is not None
        row.status, row.closed_at, row.closed_by = "closed", datetime.now(UTC), who.user_id
        row.lessons, row.exports_frozen = lessons, False
    return _get(site.store, inc.id)
