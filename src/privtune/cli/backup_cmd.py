"""``privtune backup ...``: encrypted, deduplicated, incremental snapshots; verify; restore; drill."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from privtune import backup
from privtune.audit import api as audit_api
from privtune.backup.snapshot import CreateResult, RestoreResult
from privtune.cli.common import WorkspaceOpt, api_key_from_env_or_prompt, console, open_workspace
from privtune.errors import IntegrityError
from privtune.tmp import private_tempdir
from privtune.vault.objects import VAULT_ID_KEY
from privtune.workspace import Workspace

app = typer.Typer(help="Encrypted, deduplicated, incremental backups with a verified restore.",
                  no_args_is_help=True)

RepoOpt = typer.Option(..., "--to", "--repo", help="Backup repository directory (made on first use).")


def _source(ws: Workspace) -> backup.Source:
    return backup.Source(root=ws.root, db_url=ws.store.db_url,
                         vault_id=ws.store.get_meta(VAULT_ID_KEY) or "",
                         signer=ws.keys.signing_key, store=ws.store)


def _created(r: CreateResult) -> None:
    console.print(f"snapshot {r.snapshot_id}: {r.files} files, {r.bytes_total:,} bytes "
                  f"({r.bytes_read:,} read, {r.chunks_new} new chunks, {r.bytes_written:,} bytes "
                  f"stored), {r.escrowed_keys} data keys escrowed, {r.seconds:.2f} s", highlight=False)


@app.command("create")
def create(repo: Path = RepoOpt, workspace: Path = WorkspaceOpt) -> None:
    """Write a snapshot of the workspace (backup.write). The repository's passphrase comes from
    PRIVTUNE_BACKUP_PASSPHRASE or a prompt; shreds done since the last backup reach it."""
    with open_workspace(workspace) as ws:
        _created(backup.create(ws.guard, _source(ws), repo))


@app.command("shred-sync")
def shred_sync(repo: Path = RepoOpt, workspace: Path = WorkspaceOpt) -> None:
    """Remove the data keys of every version shredded in the workspace from the backup's key
    escrow now (backup create does it too), so no snapshot restores them."""
    with open_workspace(workspace) as ws:
        ws.guard("metadata.read", "vault", action="shredded")
        n = backup.shred_in_backups(ws.guard, repo, ws.vault.shredded())
    console.print(f"{n} data key(s) removed from the backup escrow")


@app.command("verify")
def verify(repo: Path = typer.Argument(..., help="Backup repository directory."),
           no_read_data: bool = typer.Option(False, "--no-read-data",
                                             help="Check signatures and chunk presence only.")) -> None:
    """Check every snapshot's signature and read, decrypt and authenticate every chunk."""
    r = backup.verify(repo, read_data=not no_read_data)
    for p in r.problems:
        console.print(f"[red]FAILED[/] {p}")
    console.print(f"{r.snapshots} snapshot(s), {r.chunks} chunk(s), {r.bytes_checked:,} bytes "
                  f"authenticated, {r.unreferenced} unreferenced chunk(s)", highlight=False)
    if not r.ok:
        raise IntegrityError(f"backup verification failed: {len(r.problems)} problem(s)")


@app.command("list")
def list_snapshots(repo: Path = typer.Argument(..., help="Backup repository directory.")) -> None:
    """List the snapshots (their signatures are checked)."""
    r = backup.Repo.open(repo)
    for sid in r.snapshot_ids():
        m = r.read_snapshot(sid)
        size = sum(f["size"] for f in m["files"])
        console.print(f"{sid}  {len(m['files'])} files  {size:,} bytes  parent {m['parent']}",
                      highlight=False)


def _accept_restored(tmp: Path) -> None:
    """Open the restored copy (not yet in place) as the caller; check ``backup.restore`` there
    (audited in the restored log), then require vault verify and audit-log verify to pass."""
    with Workspace.open(tmp, api_key=api_key_from_env_or_prompt()) as ws:
        ws.guard("backup.restore", "workspace", action="restore")
        bad = [r.ref for r in ws.vault.verify() if not r.ok]
        if bad:
            raise IntegrityError(f"restored vault failed verification: {', '.join(bad)}")
        report = audit_api.verify(ws.guard, ws.audit, ws.pinned_public_key(), ws.keys.public_key)
        if not report.ok:
            raise IntegrityError(f"restored audit log failed verification: {report.line()}")


def _restored(r: RestoreResult) -> None:
    console.print(f"restored snapshot {r.snapshot_id} into {r.target}: {r.files} files, "
                  f"{r.bytes:,} bytes, {r.keys_restored} data keys from the escrow, "
                  f"{len(r.shredded)} shredded version(s) left out, {r.seconds:.2f} s; "
                  "vault verify and audit-log verify passed", highlight=False)


@app.command("restore")
def restore(repo: Path = typer.Argument(..., help="Backup repository directory."),
            target: Path = typer.Argument(..., help="New workspace directory (must not exist)."),
            snapshot: str = typer.Option(None, help="Snapshot id (default: the latest).")) -> None:
    """Restore a snapshot into a new workspace. Needs the backup passphrase, the workspace's
    KEK (PRIVTUNE_PASSPHRASE) and an API key holding backup.restore in the restored workspace."""
    _restored(backup.restore(repo, target, snapshot=snapshot, accept=_accept_restored))


@app.command("drill")
def drill(repo: Path = RepoOpt, json_out: Path = typer.Option(None, "--json", help="Write the "
          "figures as JSON."), workspace: Path = WorkspaceOpt) -> None:
    """The whole cycle: snapshot, verify every byte, restore into a scratch directory, vault and
    audit-log verify there; reports the recovery time (restore + checks)."""
    t0 = time.perf_counter()
    with open_workspace(workspace) as ws:
        made = backup.create(ws.guard, _source(ws), repo)
    _created(made)
    t1 = time.perf_counter()
    checked = backup.verify(repo)
    if not checked.ok:
        raise IntegrityError(f"backup verification failed: {'; '.join(checked.problems[:3])}")
    t2 = time.perf_counter()
    with private_tempdir("drill") as tmp:
        done = backup.restore(repo, tmp / "restored", snapshot=made.snapshot_id,
                              accept=_accept_restored)
    t3 = time.perf_counter()
    _restored(done)
    figures = {"snapshot": made.snapshot_id, "backup_s": round(t1 - t0, 3),
               "verify_s": round(t2 - t1, 3), "recovery_s": round(t3 - t2, 3),
               "bytes": made.bytes_total, "chunks_verified": checked.chunks}
    console.print(f"drill passed: backup {figures['backup_s']} s, verify {figures['verify_s']} s, "
                  f"recovery (restore + checks) {figures['recovery_s']} s", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
