"""What each page shows, read through the library as the signed-in user.

Each function runs with the workspace's principal set to the user (``Console.acting``), so every
read goes through the same Guard checks and audit events as the CLI; the page's own check
(``PAGES``) has been made, and audited, before it is called. Pages hold ids, refs, counts,
metrics and masked shapes, never a person's data, except the one value a ``reveal`` returns to
a role that may read personal data (audited)."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from privtune.access.admin import in_lockdown
from privtune.access.roles import allowed
from privtune.audit import api as audit_api
from privtune.audit.query import EventFilter
from privtune.dp import ledger
from privtune.errors import InputError, NotFoundError, PrivacyPolicyError
from privtune.gate.adapters import adapter_record
from privtune.gate.approval import Approval, approve_release, pending_approval
from privtune.gate.registry import list_releases
from privtune.gate.release import check_against_policy, check_releasable
from privtune.ops import alerts as alerts_api
from privtune.ops import incident as incident_api
from privtune.pipeline import erasure
from privtune.pipeline.site import alert_site, gate_site, ops_site
from privtune.store.models import Audit, ObjectVersion, Run
from privtune.workspace import Workspace

from . import svg

#: Page -> the operations that open it: the first one the role holds is checked (and audited);
#: a role holding none is checked on the first (a deny, audited). The audits page is the
#: auditor's (model.read: audit reports) and the release approver's (release.approve: a DPO
#: approves from it without reading models).
PAGES: dict[str, tuple[str, ...]] = {
    "overview": ("metadata.read",),
    "audits": ("model.read", "release.approve"),
    "audit-log": ("audit.read",),
    "runs": ("metadata.read",),
    "datasets": ("metadata.read",),
    "requests": ("metadata.read",),
    "alerts": ("alerts.manage",),
    "incidents": ("incident.manage",),
    "retention": ("records.read",),
}
#: Views that belong to a page (the page's operation opens them).
PAGES.update({"audit": PAGES["audits"], "audit-verify": PAGES["audit-log"],
              "audit-export": PAGES["audit-log"], "run": PAGES["runs"]})

NAV = (("/", "Overview", "overview"), ("/audits", "Audits", "audits"),
       ("/audit-log", "Audit log", "audit-log"), ("/runs", "Training runs", "runs"),
       ("/datasets", "Datasets", "datasets"), ("/requests", "Subject requests", "requests"),
       ("/retention", "Retention", "retention"), ("/alerts", "Alerts", "alerts"),
       ("/incidents", "Incidents", "incidents"))

PAGE_SIZE = 50
PERSON_TABLE = "employees"


def page_op(role: str, page: str, *, lockdown: bool = False) -> str:
    ops = PAGES[page]
    return next((op for op in ops if allowed(role, op, lockdown=lockdown)), ops[0])


def may_open(role: str, page: str, *, lockdown: bool = False) -> bool:
    return any(allowed(role, op, lockdown=lockdown) for op in PAGES[page])


def view(ws: Workspace, page: str, arg: Any = None, *, obj: str = "", **detail: Any) -> Any:
    """What ``page`` shows (``arg``: its audit id, run id or audit-log query), for the
    workspace's principal: the page's operation is checked (audited) first, then the page is
    read through the library, whose own reads are checked and audited too."""
    if page not in _VIEWS:
        raise NotFoundError("no such page")
    p = ws.principal
    op = page_op(p.role if p else "", page, lockdown=in_lockdown(ws.store))
    ws.guard(op, obj or f"console:{page}", action="view", client="console", **detail)
    build = _VIEWS[page]
    return build(ws) if arg is None else build(ws, arg)


# ------------------------------------------------------------------ overview
def _overview(ws: Workspace) -> dict[str, Any]:
    p = ws.principal
    assert p is not None
    rows = ws.vault.list()
    gone = ws.vault.shredded()
    latest: dict[str, ObjectVersion] = {}
    for r in rows:
        latest[r.name] = r
    kinds = Counter(r.kind for r in latest.values())
    datasets = sorted((r for r in latest.values() if r.kind in ("table", "texts", "dataset",
                                                                "examples")), key=lambda r: r.name)
    models = sorted((r for r in latest.values() if r.kind == "adapter"), key=lambda r: r.name)
    releases = list_releases(gate_site(ws))
    _, standing = ledger.report(ws.access.check, ws.store,
                                default_budget=ws.config.dp_budget_epsilon)
    budgets = [{"source": s.source, "spent": s.epsilon, "budget": s.budget, "left": s.left,
                "runs": s.runs, "bar": svg.budget_bar(s.epsilon, s.budget)} for s in standing]
    out: dict[str, Any] = {
        "datasets": [{"ref": r.ref, "kind": r.kind, "shredded": r.ref in gone,
                      "created": r.created_at} for r in datasets],
        "models": [{"ref": r.ref, "created": r.created_at} for r in models],
        "releases": [{"id": r.id, "model": r.model_ref, "state": r.state,
                      "released": r.released_at} for r in releases],
        "kinds": dict(sorted(kinds.items())), "budgets": budgets,
        "alerts": None, "requests": None, "incidents": None,
    }
    if allowed(p.role, "alerts.manage"):
        out["alerts"] = len(alerts_api.list_alerts(alert_site(ws)))
    reqs = erasure.list_requests(ws)
    out["requests"] = sum(1 for r in reqs if r.state in ("queued", "approved", "running"))
    if allowed(p.role, "incident.manage"):
        out["incidents"] = sum(1 for i in incident_api.list_incidents(ops_site(ws))
                               if i.status != "closed")
    return out


# ------------------------------------------------------------------ audits
def _audits(ws: Workspace) -> list[dict[str, Any]]:
    with ws.store.session() as s:
        rows = list(s.scalars(select(Audit).order_by(Audit.created_at.desc())))
    return [{"id": a.id, "model": a.model_ref, "passed": a.passed, "created": a.created_at,
             "failed": list((a.verdict or {}).get("failed", []))} for a in rows]


def _audit_row(ws: Workspace, audit_id: str) -> Audit:
    if not audit_id.startswith("audit-") or len(audit_id) > 64:
        raise NotFoundError("no such audit")
    with ws.store.session() as s:
        row = s.get(Audit, audit_id)
    if row is None:
        raise NotFoundError("no such audit")
    return row


@dataclass
class GateView:
    releasable: bool
    reasons: list[str]
    release: dict[str, Any] | None
    first_approval: dict[str, Any] | None


def _gate_view(ws: Workspace, a: Audit) -> GateView:
    """What the gate would say about releasing the audited model now (no release is made)."""
    site = gate_site(ws)
    reasons: list[str] = []
    rel = next((r for r in list_releases(site, a.model_name) if r.model_ref == a.model_ref), None)
    try:
        audit = check_releasable(site, a.model_ref)
        if audit.id != a.id:
            reasons.append(f"a newer audit of this model exists ({audit.id})")
        _, record = adapter_record(site.vault, a.model_ref)
        check_against_policy(site, a.model_ref, audit, record)
    except PrivacyPolicyError as exc:
        reasons.append(exc.message)
    except NotFoundError as exc:
        reasons.append(exc.message)
    first = pending_approval(ws.store, a.model_ref, a.id)
    return GateView(not reasons, reasons,
                    None if rel is None else {"id": rel.id, "state": rel.state},
                    None if first is None else {"by": first.actor, "role": first.role,
                                                "at": first.ts})


def _audit_detail(ws: Workspace, audit_id: str) -> dict[str, Any]:
    a = _audit_row(ws, audit_id)
    v = a.verdict or {}
    det = v.get("details") or {}
    rocs = []
    for m in det.get("membership") or []:
        pts = m.get("roc") or []
        if not pts:  # audits made before the ROC was kept: the points the verdict holds
            res = m.get("fpr_resolution") or 0.0
            pts = [(0.0, 0.0), (res, m.get("tpr_at_lowest_fpr") or 0.0),
                   (0.01, m.get("tpr_at_1pct_fpr") or 0.0), (1.0, 1.0)]
        rocs.append((f"{m.get('attack', '?')} (AUC {m.get('auc', float('nan')):.3f})",
                     sorted((float(x), float(y)) for x, y in pts)))
    roc_svg = svg.line_chart(rocs, title="Membership inference ROC", xlabel="false positive rate",
                             ylabel="true positive rate", x_range=(0, 1), y_range=(0, 1),
                             diagonal=True) if rocs else None
    exposure = det.get("exposure_by_repetitions") or {}
    # {repetitions: {"mean", "max", "canaries"}} (privtune.attacks.exposure.by_repetition)
    series: dict[str, list[tuple[float, float]]] = {"mean": [], "max": []}
    for k, x in exposure.items():
        for stat, pts in series.items():
            val: Any = x.get(stat) if isinstance(x, dict) else (x if stat == "mean" else None)
            if _num(val) and str(k).isdigit():
                pts.append((float(k), float(val)))
    exp_series = [(f"{stat} exposure", sorted(pts)) for stat, pts in series.items() if pts]
    exp_svg = svg.line_chart(exp_series, title="Canary exposure per repetition count",
                             xlabel="repetitions", ylabel="exposure (bits)") \
        if exp_series else None
    extraction = det.get("extraction") or {}
    prompts = det.get("prompt_attacks") or {}
    return {"audit": {"id": a.id, "model": a.model_ref, "passed": a.passed,
                      "created": a.created_at, "sha256": a.verdict_sha256},
            "metrics": v.get("metrics") or [], "failed": v.get("failed") or [],
            "profile": v.get("profile"), "policy_sha256": v.get("policy_sha256", ""),
            "roc": roc_svg, "exposure": exp_svg,
            "extraction": {k: val for k, val in extraction.items() if _num(val)},
            "prompt_attacks": {k: val for k, val in prompts.items() if _num(val)},
            "membership": det.get("membership") or [],
            "gate": _gate_view(ws, a),
            "may_release": ws.principal is not None and allowed(
                ws.principal.role, "release.approve", lockdown=in_lockdown(ws.store))}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def release_from_audit(ws: Workspace, audit_id: str) -> Approval:
    """Approve the release of the audited model: with four-eyes the first approval is recorded
    and a second, other user (of another role under ``other-role``) releases; without, the
    approver releases. The gate's own checks decide (``privtune.gate.release``)."""
    return approve_release(gate_site(ws), ws.access, audit_id)


# ------------------------------------------------------------------ audit log
@dataclass(frozen=True)
class LogQuery:
    actor: str = ""
    op: str = ""
    object: str = ""
    outcome: str = ""
    before: int | None = None

    def event_filter(self, limit: int | None = PAGE_SIZE) -> EventFilter:
        return EventFilter(actor=self.actor or None, op=self.op or None,
                           object=self.object or None, outcome=self.outcome or None,
                           limit=limit, before=self.before)

    def params(self) -> dict[str, str]:
        return {k: v for k, v in (("actor", self.actor), ("op", self.op),
                                  ("object", self.object), ("outcome", self.outcome)) if v}


def _audit_log(ws: Workspace, q: LogQuery) -> dict[str, Any]:
    events = audit_api.show(ws.access.check, ws.store, q.event_filter())
    events.reverse()  # newest first
    older = events[-1].seq if len(events) == PAGE_SIZE else None
    return {"events": [{"seq": e.seq, "ts": e.ts, "actor": e.actor, "role": e.role,
                        "op": e.op, "object": e.object, "outcome": e.outcome,
                        "reason": e.reason, "detail": e.detail_map()} for e in events],
            "older": older}


def _audit_verify(ws: Workspace) -> str:
    report = audit_api.verify(ws.access.check, ws.audit, ws.pinned_public_key(),
                              ws.keys.public_key, anchor="")
    return report.line()


def _audit_export(ws: Workspace, fmt: str, q: LogQuery) -> str:
    return audit_api.export(ws.access.check, ws.store, fmt, q.event_filter(limit=None))


# ------------------------------------------------------------------ runs
def _runs(ws: Workspace) -> dict[str, Any]:
    with ws.store.session() as s:
        rows = list(s.scalars(select(Run).order_by(Run.started_at.desc())))
    entries, standing = ledger.report(ws.access.check, ws.store,
                                      default_budget=ws.config.dp_budget_epsilon)
    return {"runs": [{"id": r.id, "kind": r.kind, "status": r.status, "started": r.started_at,
                      "finished": r.finished_at, "outputs": r.outputs,
                      "epsilon": (r.metrics or {}).get("epsilon"),
                      "epsilon_person": (r.metrics or {}).get("epsilon_person")} for r in rows],
            "ledger": [{"run": e.run_id, "sources": srcs, "epsilon": e.epsilon,
                        "status": e.status} for e, srcs in entries],
            "budgets": [{"source": s.source, "spent": s.epsilon, "budget": s.budget,
                         "left": s.left, "runs": s.runs,
                         "bar": svg.budget_bar(s.epsilon, s.budget)} for s in standing]}


def _metrics_rows(ws: Workspace, run_id: str) -> list[dict[str, float]]:
    """``runs/<run-id>/metrics.jsonl``: the public per-step figures (a DP run's hold only step,
    learning rate and validation loss). ``run_id`` is a row's id, resolved under runs/."""
    base = ws.runs_dir.resolve()
    path = (base / run_id / "metrics.jsonl").resolve()
    if base not in path.parents or not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append({k: float(v) for k, v in row.items() if _num(v)})
    return rows


def _run_detail(ws: Workspace, run_id: str) -> dict[str, Any]:
    if len(run_id) > 64:
        raise NotFoundError("no such run")
    with ws.store.session() as s:
        r = s.get(Run, run_id)
    if r is None:
        raise NotFoundError("no such run")
    rows = _metrics_rows(ws, r.id)
    series = []
    for key, name in (("loss", "training loss"), ("val_loss", "validation loss")):
        pts = [(row["step"], row[key]) for row in rows if "step" in row and key in row]
        if pts:
            series.append((name, pts))
    loss_svg = svg.line_chart(series, title="Loss", xlabel="step", ylabel="loss") \
        if series else None
    privacy: dict[str, Any] = {}
    for ref in r.outputs or []:
        try:
            meta = ws.vault.manifest(str(ref)).meta or {}
        except (NotFoundError, InputError):
            continue
        privacy = dict(meta.get("privacy") or {})
        break
    eps_svg = _epsilon_curve(privacy)
    return {"run": {"id": r.id, "kind": r.kind, "status": r.status, "started": r.started_at,
                    "finished": r.finished_at, "outputs": r.outputs},
            "config": json.dumps(r.config or {}, indent=2, sort_keys=True, default=str),
            "metrics": {k: v for k, v in sorted((r.metrics or {}).items())
                        if isinstance(v, (int, float, str, bool)) or v is None},
            "privacy": {k: v for k, v in sorted(privacy.items())
                        if isinstance(v, (int, float, str, bool))},
            "loss": loss_svg, "epsilon": eps_svg}


def _epsilon_curve(privacy: dict[str, Any]) -> Any:
    """Epsilon per unit and per person over the steps of a DP run, from its recorded noise,
    sampling rate and delta (the accountant's own functions; 12 points)."""
    if not privacy.get("dp"):
        return None
    try:
        from privtune.dp.accountant import epsilon
        from privtune.dp.group import group_epsilon

        sigma, q = float(privacy["noise_multiplier"]), float(privacy["sampling_rate"])
        steps, delta = int(privacy["steps"]), float(privacy["delta"])
        acc, k = str(privacy.get("accountant", "prv")), int(privacy.get("group_size", 1))
    except (KeyError, TypeError, ValueError):
        return None
    if steps < 1:
        return None
    at = sorted({max(1, round(steps * i / 11)) for i in range(12)})
    unit = [(t, epsilon(sigma, q, t, delta, acc)) for t in at]
    series = [(f"per {privacy.get('unit', 'unit')}", unit)]
    if k > 1:
        series.append((f"per person (group of {k})",
                       [(t, group_epsilon(sigma, q, t, delta, k, acc)) for t in at]))
    return svg.line_chart(series, title="Epsilon over steps", xlabel="step", ylabel="epsilon")


# ------------------------------------------------------------------ datasets
def _datasets(ws: Workspace) -> dict[str, Any]:
    p = ws.principal
    assert p is not None
    rows = ws.vault.list()
    gone = ws.vault.shredded()
    versions = [{"ref": r.ref, "kind": r.kind, "size": r.size, "sha256": r.sha256[:12],
                 "created": r.created_at, "parents": list(r.parents or []),
                 "shredded": r.ref in gone} for r in rows if r.kind != "key"]
    refs = {r.ref for r in rows if r.kind != "key"}
    nodes = [(r.ref, r.kind) for r in rows if r.kind != "key"]
    edges = [(str(par), r.ref) for r in rows if r.kind != "key"
             for par in (r.parents or []) if str(par) in refs]
    releases = list_releases(gate_site(ws))
    for r in releases:
        rid = f"release {r.id}"
        if r.model_ref in refs:
            nodes.append((rid, "release"))
            edges.append((r.model_ref, rid))
    graph = svg.lineage_graph(nodes, edges) if nodes else None
    out: dict[str, Any] = {"versions": versions, "graph": graph, "scan": None, "deid": None,
                           "may_reveal": allowed(p.role, "data.read")}
    # The scan and de-identification reports: column classes, entity counts, masked shapes and
    # the re-identification risk of the person table. Shapes are masked, but a column's shape
    # still tells its format: shown to the roles that may read personal data (checked, audited).
    if allowed(p.role, "data.read"):
        ws.guard("data.read", "reports/pii-scan", action="view")
        out["scan"] = _report(ws.reports_dir / "pii-scan.json")
        out["deid"] = _report(ws.reports_dir / "deidentify.json")
    return out


def _report(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def reveal(ws: Workspace, column: str) -> str:
    """The first non-empty value of ``column`` in the newest person table: the masked example
    of the scan report, in clear, for a role that may read personal data (the vault's read is
    checked and audited, and so is the reveal itself)."""
    ws.guard("data.read", PERSON_TABLE, action="reveal", column=ws.access.keyed(column)[:16])
    if not column or len(column) > 128:
        raise InputError("no such column", field="column")
    from privtune.io import read_table

    gone = ws.vault.shredded()
    refs = [r.ref for r in ws.vault.list() if r.name == PERSON_TABLE and r.ref not in gone]
    if not refs:
        raise NotFoundError("no person table in the vault")
    ref = refs[-1]
    table = read_table(ws.vault, ref)
    if column not in table.column_names:
        raise InputError("no such column", field="column")
    for v in table.column(column).to_pylist():
        if v is not None and str(v).strip():
            return str(v)
    return ""


# ------------------------------------------------------------------ requests, alerts, incidents
def _requests(ws: Workspace) -> dict[str, Any]:
    return {"title": "Data-subject requests", "rows": [{"id": r.id, "kind": r.kind, "state": r.state, "step": r.step,
             "requested_role": r.requested_role, "requested_at": r.requested_at,
             "approved_role": r.approved_role, "approved_at": r.approved_at,
             "done_at": r.done_at} for r in erasure.list_requests(ws)]}


def _retention(ws: Workspace) -> dict[str, Any]:
    """What retention would shred and when (``privtune retention plan``), legal holds shown."""
    from privtune.pipeline.retention import retention_plan

    return {"title": "Retention", "rows": [
        {"ref": e.ref, "class": e.cls, "expires": e.expires_at or "never",
         "expired": e.expired, "held by": e.held_by, "shredded": e.shredded, "due": e.due}
        for e in retention_plan(ws)]}


def _alerts(ws: Workspace) -> dict[str, Any]:
    return {"title": "Alerts", "rows": [{"id": a.id, "rule": a.rule, "key": a.key, "score": a.score, "status": a.status,
             "from": a.window_start, "to": a.window_end, "events": f"{a.first_seq}-{a.last_seq}"}
            for a in alerts_api.list_alerts(alert_site(ws), include_acked=True)]}


def _incidents(ws: Workspace) -> dict[str, Any]:
    return {"title": "Incidents", "rows": [{"id": i.id, "severity": i.severity, "status": i.status, "opened": i.opened_at,
             "frozen": i.exports_frozen, "closed": i.closed_at}
            for i in incident_api.list_incidents(ops_site(ws))]}


_VIEWS: dict[str, Any] = {
    "overview": _overview, "audits": _audits, "audit": _audit_detail, "audit-log": _audit_log,
    "audit-verify": _audit_verify, "audit-export": lambda ws, a: _audit_export(ws, *a),
    "runs": _runs, "run": _run_detail, "datasets": _datasets, "requests": _requests,
    "alerts": _alerts, "incidents": _incidents, "retention": _retention,
}
