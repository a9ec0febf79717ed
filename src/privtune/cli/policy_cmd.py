"""``privtune policy show|set FILE``: the workspace's gate policy, which every release is judged
by (changing it: admin or DPO, audited)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace

app = typer.Typer(help="The workspace's privacy-gate policy (what a release must meet).",
                  no_args_is_help=True)


@app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """The policy in force: thresholds, DP requirement, audit minimums, its version and hash."""
    import yaml

    from privtune.gate.workspace_policy import view_policy
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        wp = view_policy(gate_site(ws))
    if as_json:
        typer.echo(json.dumps(wp.as_dict(), indent=2))
        return
    origin = ("built-in defaults (never set)" if wp.version == 0
              else f"version {wp.version}, set {wp.set_at} by {wp.set_by}")
    console.print(f"gate policy: {origin}\nsha256: {wp.sha256}")
    typer.echo(yaml.safe_dump(wp.policy.model_dump(mode="json"), sort_keys=False).rstrip())


@app.command("set")
def set_cmd(
    file: Path = typer.Argument(..., help="Gate policy YAML (configs/gate-policy.yaml); keys "
                                "left out take the built-in defaults."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Make FILE the workspace's gate policy (admin, DPO; audited with the old and new hashes).
    Audits judged by an earlier policy no longer allow a release."""
    from privtune.gate.policy import load_policy
    from privtune.gate.workspace_policy import POLICY_OBJECT, set_policy
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        site = gate_site(ws)
        # Permission first (audited), so a lesser role learns nothing from how the file parses.
        site.check("policy.write", POLICY_OBJECT, action="load")
        wp = set_policy(site, load_policy(file))
    console.print(f"gate policy version {wp.version} in force (sha256 {wp.sha256})")
