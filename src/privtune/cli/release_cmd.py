"""``privtune release MODEL`` and ``privtune verify-release DIR``: signed release of an adapter
that passed its privacy audit, and the check of a release's signature and hashes."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace, print_figures


def register(app: typer.Typer) -> None:
    @app.command("release")
    def release(
        model: str = typer.Argument(..., help="The adapter: name or name@version."),
        out: Path = typer.Option(None, "--out", help="Release directory (default: "
                                 "<workspace>/releases/<name>-v<N>)."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Release a model whose latest audit passed: adapter + verdict + signed manifest
        (Ed25519 over adapter hash, audit hash, epsilon). Refuses (exit 8) a model never
        audited, whose audit failed, or whose audit predates it."""
        from privtune.gate.release import PUBKEY_FILE
        from privtune.gate.release import release as do_release
        from privtune.pipeline.site import gate_site

        with open_workspace(workspace) as ws:
            res = do_release(gate_site(ws), model, out)
            pub = Path(ws.root) / PUBKEY_FILE
        m = res.manifest
        print_figures("release", {"directory": str(res.directory), "model": m["model_ref"],
                                  "adapter_sha256": m["adapter_sha256"], "audit": m["audit_id"],
                                  "audit_sha256": m["audit_sha256"],
                                  "epsilon": m["epsilon"] if m["dp"] else "not private (no DP)",
                                  "public key": str(pub)})

    @app.command("verify-release")
    def verify_release(
        directory: Path = typer.Argument(..., help="A release directory."),
        pubkey: Path = typer.Option(None, "--pubkey", help="Trusted Ed25519 public key (PEM); "
                                    "default: the workspace's release-signing-key.pub."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Check a release: signature by the trusted key, then every file's hash (exit 5 if
        anything was changed)."""
        from privtune.errors import InputError, WorkspaceError
        from privtune.gate.release import PUBKEY_FILE, load_public_key
        from privtune.gate.release import verify_release as verify

        if pubkey is None:
            pubkey = Path(workspace or Path.cwd()) / PUBKEY_FILE
            if not pubkey.is_file():
                raise WorkspaceError("no trusted public key: pass --pubkey FILE or the "
                                     "--workspace that signed the release")
        if not pubkey.is_file():
            raise InputError("public key file not found", path=pubkey)
        doc = verify(directory, load_public_key(pubkey.read_bytes()))
        console.print(f"[green]verified[/] {doc['model_ref']}: signature ok, adapter sha256 "
                      f"{doc['adapter_sha256'][:16]}…, audit {doc['audit_id']} passed")
