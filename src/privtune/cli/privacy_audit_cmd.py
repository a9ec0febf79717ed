"""``privtune audit MODEL``: the privacy audit and gate verdict of a registered adapter.

(The tamper-evident access log is ``privtune audit-log``; this is the *privacy* audit.)
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace, progress_bar


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit(
        model: str = typer.Argument(..., help="The adapter: name or name@version (e.g. adapter@2)."),
        overrides: list[str] = typer.Argument(None, help="Overrides of the audit settings, e.g. "
                                              "exposure.candidates=2000 mia.reference_models=4"),
        policy: Path = typer.Option(None, "--policy", help="Judge by this gate policy YAML instead "
                                    "of the workspace's (privtune policy show); a release "
                                    "accepts only an audit judged by the workspace's policy."),
        config: Path = typer.Option(None, "--config", help="Pipeline config YAML whose 'audit' "
                                    "section to use."),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON verdict on stdout."),
        base: Path = typer.Option(None, "--base", help="The base model directory, if it moved."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Attack the model (canary exposure, membership inference, PII extraction, prompt
        attacks), judge it by the policy, write the HTML report and JSON verdict, record the
        audit. Exit code 8 when the gate fails."""
        from privtune.attacks.spec import AuditSpec
        from privtune.config import load_config
        from privtune.errors import PrivacyPolicyError
        from privtune.gate.audit import STEPS, run_audit
        from privtune.gate.policy import load_policy
        from privtune.pipeline.site import gate_site

        if config is not None:
            from privtune.pipeline.config import PipelineConfig

            spec = load_config(PipelineConfig, config, [f"audit.{o}" for o in overrides or []]).audit
        else:
            spec = load_config(AuditSpec, None, overrides or [])
        pol = load_policy(policy) if policy is not None else None
        with open_workspace(workspace) as ws:
            if as_json:
                out = run_audit(gate_site(ws), model, spec, pol, base=base)
            else:
                with progress_bar("privacy audit", len(STEPS)) as p:
                    out = run_audit(gate_site(ws), model, spec, pol, base=base, progress=p)
        if as_json:
            typer.echo(json.dumps(out.verdict, indent=2, sort_keys=True))
        else:
            print_verdict(out.verdict)
            console.print(f"report:  {out.report_path}")
            console.print(f"verdict: {out.verdict_path}")
        if not out.passed:
            raise PrivacyPolicyError(f"'{out.model_ref}' fails the privacy gate: "
                                     f"{', '.join(out.verdict['failed'])} (report: {out.report_path})")


def print_verdict(verdict: dict) -> None:
    from rich.table import Table

    from privtune.cli.common import _fmt_value

    t = Table(title=f"privacy gate — {verdict['model']['ref']}")
    for col in ("metric", "value", "max", "result"):
        t.add_column(col)
    for m in verdict["metrics"]:
        t.add_row(m["name"], _fmt_value(m["value"]),
                  _fmt_value(m["threshold"]) if m["checked"] else "not checked",
                  "[green]pass[/]" if m["passed"] else "[bold red]FAIL[/]")
    console.print(t)
    probed = verdict.get("subjects_probed") or {}
    if probed:
        console.print("real employees probed: " + ", ".join(
            f"{k.replace('_', ' ')} {v.get('real_employees', 0)}" for k, v in probed.items()))
    if verdict.get("policy_sha256"):
        console.print(f"profile {verdict.get('profile')}, policy sha256 "
                      f"{verdict['policy_sha256'][:16]}…")
    for problem in verdict["details"].get("dp_requirement") or []:
        console.print(f"[bold red]DP requirement:[/] {problem}")
    one = verdict["details"].get("one_run") or {}
    if one:
        eps = next((m["value"] for m in verdict["metrics"] if m["name"] == "epsilon"), None)
        console.print(f"empirical epsilon lower bound {one['epsilon_lower_bound']:.2f} "
                      f"({one['correct']}/{one['guesses']} guesses right over "
                      f"{one['candidates']} candidate canaries, {one['included']} planted; "
                      f"accountant's epsilon {_fmt_value(eps)})")
    exp = verdict["details"].get("exposure_by_repetitions") or {}
    if exp:
        console.print("canary exposure by repetitions (max bits): "
                      + ", ".join(f"{k}x: {v['max']:.1f}" for k, v in exp.items()))
    console.print("[bold green]PASS[/]" if verdict["passed"] else "[bold red]FAIL[/]")
