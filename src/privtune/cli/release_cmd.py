"""``privtune release MODEL`` (and ``release list|revoke|quarantine``), ``privtune
verify-release DIR``: the release registry, the signed release of an adapter that passed its
privacy audit under the workspace policy, and the check of a release's signature and hashes.

``release MODEL`` is short for ``release create MODEL`` (a model named like a subcommand needs
the long form)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from privtune.cli.common import WorkspaceOpt, YesOpt, confirm, console, open_workspace, print_figures

DEFAULT_SUBCOMMAND = "create"


class _ReleaseGroup(typer.core.TyperGroup):
    """``release MODEL ...`` runs ``release create MODEL ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's vendored click Context
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_SUBCOMMAND, *args]
        return super().parse_args(ctx, args)


release_app = typer.Typer(cls=_ReleaseGroup, no_args_is_help=True,
                          help="Release a model that passed its privacy audit (release MODEL), "
                               "list the release registry, revoke or quarantine a release.")


@release_app.command(DEFAULT_SUBCOMMAND)
def create(
    model: str = typer.Argument(..., help="The adapter: name or name@version."),
    out: Path = typer.Option(None, "--out", help="Release directory (default: "
                             "<workspace>/releases/<name>-v<N>)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Release a model whose latest audit passed under the workspace's gate policy: record it in
    the release registry, then write adapter + verdict + signed manifest (Ed25519 over adapter
    hash, audit hash, policy hash, epsilon). Refuses (exit 8) a model never audited, whose audit
    failed, predates it, was judged by another policy or is weaker than the policy's minimums, a
    model without the required DP, and a revoked or quarantined one."""
    from privtune.gate.release import PUBKEY_FILE
    from privtune.gate.release import release as do_release
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        # under release.approve (roles.DELEGATED): a DPO's role alone may not read the adapter
        # and the release key that hashing and signing need
        with ws.access.acting_for("release.approve", model, action="release"):
            res = do_release(gate_site(ws), model, out)
        pub = Path(ws.root) / PUBKEY_FILE
    m = res.manifest
    print_figures("release", {"release": res.release_id, "directory": str(res.directory),
                              "model": m["model_ref"], "adapter_sha256": m["adapter_sha256"],
                              "audit": m["audit_id"], "audit_sha256": m["audit_sha256"],
                              "policy_sha256": m["policy_sha256"], "signer": m["signer_key_id"],
                              "epsilon": m["epsilon"] if m["dp"] else "not private (no DP)",
                              "public key": str(pub)})


def _change(ws: Any, model: str, state: str, reason: str) -> None:
    from privtune.gate.registry import change_state
    from privtune.pipeline.site import gate_site

    row = change_state(gate_site(ws), model, state, reason)
    console.print(f"{row.model_ref}: release {row.id} is now {row.state}")


ReasonOpt = typer.Option("", "--reason", help="Why (one line: a ticket or incident id, never a "
                         "person's name).")


@release_app.command("revoke")
def revoke(
    model: str = typer.Argument(..., help="The released adapter: name or name@version."),
    reason: str = ReasonOpt,
    yes: bool = YesOpt,
    workspace: Path = WorkspaceOpt,
) -> None:
    """Revoke a release for good (admin, DPO): exports and serving refuse it from now on (asks
    first unless --yes)."""
    confirm(f"Revoking the release of {model} is for good.", yes)
    with open_workspace(workspace) as ws:
        _change(ws, model, "revoked", reason)


@release_app.command("quarantine")
def quarantine(
    model: str = typer.Argument(..., help="The released adapter: name or name@version."),
    reason: str = ReasonOpt,
    workspace: Path = WorkspaceOpt,
) -> None:
    """Hold a release while something is looked into (admin, DPO): exports and serving refuse
    it; it can later be revoked."""
    with open_workspace(workspace) as ws:
        _change(ws, model, "quarantined", reason)


def _row(r: Any) -> dict[str, Any]:
    return {"release": r.id, "model": r.model_ref, "state": r.state, "audit": r.audit_id,
            "verdict_sha256": r.verdict_sha256, "policy_sha256": r.policy_sha256,
            "signer": r.signer_key_id,
            "released_at": r.released_at.isoformat(timespec="seconds"),
            "changed_at": r.changed_at.isoformat(timespec="seconds"), "reason": r.reason}


@release_app.command("list")
def list_cmd(
    model: str = typer.Argument(None, help="Only the releases of this model name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    wide: bool = typer.Option(False, "--wide", help="Also the audit, policy hash, signer and "
                              "last change (wider than 80 columns)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """The release registry: every release with its state and release time (--wide: also its
    audit, policy hash, signer and last change; --json: every field)."""
    from rich.table import Table

    from privtune.gate.registry import list_releases
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        rows = [_row(r) for r in list_releases(gate_site(ws), model)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    t = Table(title="release registry")
    cols = ["release", "model", "state", "released (UTC)"]
    if wide:
        cols += ["audit", "policy", "signer", "changed (UTC)"]
    for col in cols:  # ids are never cut: they are what the other commands take
        t.add_column(col, no_wrap=True)

    def when(iso: str) -> str:
        return iso[:16].replace("T", " ")

    for r in rows:
        cells = [r["release"], r["model"], r["state"], when(r["released_at"])]
        if wide:
            cells += [r["audit"], r["policy_sha256"][:12], r["signer"], when(r["changed_at"])]
        t.add_row(*cells)
    # --wide: one line per release whatever the terminal (for wide terminals and files)
    if wide:
        from rich.console import Console

        Console(width=max(console.width, 160)).print(t)
    else:
        console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(release_app, name="release")

    @app.command("verify-release")
    def verify_release(
        directory: Path = typer.Argument(..., help="A release directory."),
        pubkey: Path = typer.Option(None, "--pubkey", help="Trusted Ed25519 public key (PEM); "
                                    "default: the workspace's release-signing-key.pub."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Check a release: signature by the trusted key, then every file's hash (exit 5 if
        anything was changed), then, with a workspace (--workspace, or the current directory
        when it is one), its release registry: a revoked or quarantined release fails (exit 8).
        Without a workspace (a third party holding only the public key) the registry is not
        consulted and --pubkey is required."""
        from privtune.errors import InputError, WorkspaceError
        from privtune.gate.release import PUBKEY_FILE, load_public_key
        from privtune.gate.release import verify_release as verify

        def key_of(path: Path) -> Any:
            if not path.is_file():
                raise InputError("public key file not found", path=path)
            return load_public_key(path.read_bytes())

        ws_root = Path(workspace or Path.cwd())
        if workspace is not None or (ws_root / PUBKEY_FILE).is_file():
            from privtune.gate.registry import check_registered
            from privtune.pipeline.site import gate_site

            with open_workspace(ws_root) as ws:
                site = gate_site(ws)
                # the permission first, before any input is read (audited)
                site.check("model.read", "releases", action="verify")
                doc = verify(directory, key_of(pubkey or ws_root / PUBKEY_FILE))
                row = check_registered(site, doc.get("release_id", ""), doc["model_ref"])
            state = f"registry: {row.id} released"
        else:
            if pubkey is None:
                raise WorkspaceError("no trusted public key: pass --pubkey FILE or the "
                                     "--workspace that signed the release")
            doc = verify(directory, key_of(pubkey))
            state = "registry not consulted (no workspace)"
        console.print(f"[green]verified[/] {doc['model_ref']}: signature ok, adapter sha256 "
                      f"{doc['adapter_sha256'][:16]}…, audit {doc['audit_id']} passed; {state}")
