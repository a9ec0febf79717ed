"""``privtune subject ...``: data-subject requests (docs/compliance.md).

``erase ID`` files an erasure request (``subject.erase``) and prints its request id: the
mapping from that id to the person is yours to keep; the workspace's copy is shredded when the
request completes. ``approve REQ`` (``subject.approve``, another user: four-eyes), ``run`` (carry
out every approved request as one batch, or resume a crashed one), ``requests`` (the queue and
the erasures the privacy budget still allows), ``verify-certificate FILE``, and ``export ID``
(right of access: the person's data and its processing, to a file).
"""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace, print_figures

app = typer.Typer(help="Data-subject requests: erasure (four-eyes), access.", no_args_is_help=True)


@app.command("erase")
def erase(
    subject: str = typer.Argument(..., help="The employee id of the person to erase."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """File an erasure request (queued until another user approves it)."""
    from privtune.pipeline.erasure import file_erasure

    with open_workspace(workspace) as ws:
        req = file_erasure(ws, subject)
    console.print(f"request {req.id}: {req.state}")
    console.print("keep the mapping of this request id to the person yourself: the workspace "
                  "names the request by its id only and shreds its own copy when it completes")


@app.command("approve")
def approve(
    request: str = typer.Argument(..., help="The request id (erq-...)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Approve another user's erasure request (four-eyes)."""
    from privtune.pipeline.erasure import approve_erasure

    with open_workspace(workspace) as ws:
        req = approve_erasure(ws, request)
    console.print(f"request {req.id}: {req.state}")


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="The pipeline config the adapters were built with "
                                            "(dataset, model, dp, audit sections)."),
    overrides: list[str] = typer.Argument(None, help="Overrides, e.g. audit.mia.reference_models=2"),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Carry out every approved erasure request as one batch (one retrain), or resume one."""
    from privtune.config import load_config
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.erasure import run_erasures

    with open_workspace(workspace) as ws:
        ws.access.check("subject.erase", "subject-requests", action="run")  # before the config
        cfg = load_config(PipelineConfig, config, overrides or [])
        res = run_erasures(ws, cfg)
    if res is None:
        console.print("no approved erasure request")
        return
    print_figures(f"erasure batch {res.batch}", {
        "requests": res.requests, "versions found": res.found, "versions shredded": res.shredded,
        "retrained": {k: v["to"] for k, v in res.retrained.items()} or "none",
        "backups shredded": (
            {b["repo"]: b["keys_removed"] for b in res.backups_shredded}
            or ("none" if res.backups_pending else "no backup repository recorded")),
        "seconds": res.seconds, "certificate": str(res.certificate)})
    for name, r in sorted(res.retrained.items()):
        for label, e in sorted((r.get("erased") or {}).items()):
            pct = ", ".join(f"{a['attack']}: {a['non_member_percentile']}th percentile of the "
                            f"held-out" for a in e["attacks"]
                            if a.get("non_member_percentile") is not None) or "not scored"
            member = ("NOT a non-member" if e["in_training_set"] or
                      e["lineage_reaches_erased_data"] else "non-member")
            console.print(f"{name} {r['to']}: {label} {member} (lineage and training set); "
                          f"membership score {pct}", markup=False, highlight=False)
    for b in res.backups_pending:
        console.print(f"backup {b['repo']}: {b['reason']}; {b['action']}", markup=False,
                      highlight=False)


@app.command("requests")
def requests_cmd(workspace: Path = WorkspaceOpt) -> None:
    """The request queue (ids and states only) and how many erasure batches the budget allows."""
    from privtune.pipeline.erasure import erasure_capacity, list_requests

    with open_workspace(workspace) as ws:
        rows = list_requests(ws)
        cap = erasure_capacity(ws)
    for r in rows:
        console.print(f"{r.id}  {r.state:<9} step={r.step or '-':<8} by {r.requested_by} "
                      f"({r.requested_role})  approved by {r.approved_by or '-'}  batch {r.batch or '-'}")
    if not rows:
        console.print("no subject requests")
    for c in cap:
        if c.retrains_left is None:
            console.print(f"{c.adapter}: trained without DP: retraining spends no epsilon "
                          "(and the model is never releasable)")
        else:
            console.print(f"{c.adapter}: each retrain spends epsilon {c.epsilon_per_retrain:.4g}; "
                          f"{c.left:.4g} left of budget {c.budget:g}: {c.retrains_left} more "
                          "erasure batch(es); queue requests to share one retrain")


@app.command("verify-certificate")
def verify_cert(
    file: Path = typer.Argument(..., help="An erasure certificate (reports/erasure/<batch>.json)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Check an erasure certificate's signature against the workspace's pinned key."""
    from privtune.pipeline.erasure import verify_certificate

    with open_workspace(workspace) as ws:
        ws.access.check("records.read", "erasure-certificate", action="verify")
        body = verify_certificate(ws.pinned_public_key(), file)
    console.print(f"certificate of batch {body['batch']} verifies: requests "
                  f"{', '.join(body['requests'])}; {len(body['shredded'])} versions shredded")


@app.command("export")
def export(
    subject: str = typer.Argument(..., help="The employee id of the person asking."),
    out: Path = typer.Option(..., "--out", "-o", help="JSON file to write (an .html page is "
                                                      "written beside it); created 0600."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Right of access: the person's own records and how they were processed."""
    from privtune.pipeline.subject_access import export_subject

    with open_workspace(workspace) as ws:
        pkg = export_subject(ws, subject, out)
    console.print(f"wrote {pkg.json_path} and {pkg.html_path} ({pkg.records} records)")


@app.command("find")
def find(
    subject: str = typer.Argument(..., help="An employee id, or a name or an e-mail (resolved "
                                            "through the person table, in memory)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Every version, dataset, adapter, release and audit holding or made from one person's
    data (subject.lookup); prints refs and ids only."""
    from privtune.pipeline.subject_find import find_subject

    with open_workspace(workspace) as ws:
        res = find_subject(ws, subject)
    console.print(f"matched {res.people} employee(s) by {res.query}", markup=False, highlight=False)
    for v in res.versions:
        console.print(f"  {v['ref']:<32} {v['kind']:<9} {v['how']}"
                      + ("  (shredded)" if v["shredded"] else ""), markup=False, highlight=False)
    for r in res.releases:
        console.print(f"  release {r['release']} of {r['model']}: {r['state']}", markup=False,
                      highlight=False)
    for a in res.audits:
        console.print(f"  audit {a['audit']} of {a['model']}: "
                      f"{'passed' if a['passed'] else 'failed'}", markup=False, highlight=False)


@app.command("rectify")
def rectify_cmd(
    subject: str = typer.Argument(..., help="The employee id of the person."),
    field: str = typer.Argument(..., help="The column of the person table to correct."),
    value: str = typer.Argument(..., help="The corrected value."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Right to rectification: a new version of the person table with the field corrected;
    adapters made from the old data are flagged for retraining (subject.rectify)."""
    from privtune.pipeline.rectify import rectify

    with open_workspace(workspace) as ws:
        ws.access.check("subject.rectify", "employees", action="rectify")  # before the input
        res = rectify(ws, subject, field, value)
    console.print(f"request {res.request}: {res.old} -> {res.new}", markup=False, highlight=False)
    for ref in res.retrain:
        console.print(f"  needs retraining: {ref}", markup=False, highlight=False)
    for ref in res.stale:
        console.print(f"  made from the old data (rebuild: `privtune deidentify`, then the "
                      f"dataset and `privtune train`): {ref}", markup=False, highlight=False)


records_app = typer.Typer(help="Records of processing (GDPR Art. 30).", no_args_is_help=True)


@records_app.command("ropa")
def ropa(
    out: Path = typer.Option(..., "--out", "-o", help="JSON file to write (an .html page is "
                                                      "written beside it)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """The record of processing activities, generated from this workspace (records.read)."""
    from privtune.pipeline.ropa import write_ropa

    with open_workspace(workspace) as ws:
        js, page = write_ropa(ws, out)
    console.print(f"wrote {js} and {page}")


retention_app = typer.Typer(help="Retention periods, expiry (crypto-shred) and legal holds.",
                            no_args_is_help=True)


@retention_app.command("plan")
def retention_plan_cmd(workspace: Path = WorkspaceOpt) -> None:
    """What expires when, under the workspace's retention periods (records.read)."""
    from privtune.pipeline.retention import retention_plan

    with open_workspace(workspace) as ws:
        rows = retention_plan(ws)
    for e in rows:
        state = ("shredded" if e.shredded else f"HELD ({e.held_by})" if e.held_by and e.expired
                 else "EXPIRED" if e.expired else "kept")
        at = e.expires_at.isoformat(timespec="seconds") if e.expires_at else "-"
        console.print(f"{e.ref:<32} {e.cls:<13} expires {at}  {state}", markup=False,
                      highlight=False)
    due = sum(e.due for e in rows)
    console.print(f"{due} version(s) would be shredded by `privtune retention apply`")


@retention_app.command("apply")
def retention_apply_cmd(workspace: Path = WorkspaceOpt) -> None:
    """Crypto-shred every expired version that no legal hold protects (retention.manage)."""
    from privtune.pipeline.retention import apply_retention

    with open_workspace(workspace) as ws:
        done = apply_retention(ws)
    for ref in done.shredded:
        console.print(f"shredded {ref}", markup=False, highlight=False)
    for ref in done.held_meanwhile:
        console.print(f"kept {ref}: a legal hold was placed while retention ran", markup=False,
                      highlight=False)
    for b in done.backups_shredded:
        console.print(f"backup {b['repo']}: {b['keys_removed']} key(s) removed from its escrow",
                      markup=False, highlight=False)
    for b in done.backups_pending:
        console.print(f"backup {b['repo']}: {b['reason']}; {b['action']}", markup=False,
                      highlight=False)
    console.print(f"{len(done.shredded)} version(s) shredded")


@retention_app.command("hold")
def retention_hold_cmd(
    target: str = typer.Argument(..., help="An object name (every version) or name@version."),
    reason: str = typer.Option("", "--reason", help="Why (a case number; no personal data)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Place a legal hold: the object is not expired while it holds (retention.manage)."""
    from privtune.pipeline.retention import place_hold

    with open_workspace(workspace) as ws:
        ws.access.check("retention.manage", "retention", action="hold")  # before the input
        h = place_hold(ws, target, reason)
    console.print(f"legal hold on {h.target}", markup=False, highlight=False)


@retention_app.command("release-hold")
def retention_release_cmd(
    target: str = typer.Argument(..., help="The held object name or name@version."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Release a legal hold (retention.manage)."""
    from privtune.pipeline.retention import release_hold

    with open_workspace(workspace) as ws:
        ws.access.check("retention.manage", "retention", action="release-hold")
        h = release_hold(ws, target)
    console.print(f"legal hold on {h.target} released", markup=False, highlight=False)


@records_app.command("dpia")
def dpia_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="JSON file to write (an .html page is "
                                                      "written beside it)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """The DPIA evidence pack (Art. 35) with the measured figures (records.read)."""
    from privtune.pipeline.ropa import write_dpia

    with open_workspace(workspace) as ws:
        js, page = write_dpia(ws, out)
    console.print(f"wrote {js} and {page}")
