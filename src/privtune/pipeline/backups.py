"""Crypto-shredding that reaches the backups: the one place both erasure
(:mod:`privtune.pipeline.erasure`) and retention (:mod:`privtune.pipeline.retention`) take a
version they shredded in the vault out of every backup repository the workspace wrote.

A backup stores the vault's files as they lie (ciphertext) and the versions' wrapped data keys
in its own key escrow; removing a version's keys from the escrow leaves its ciphertext in the
backup unreadable, and no restore brings it back (docs/operations.md).
"""

from __future__ import annotations

import os
from typing import Any

from privtune import backup
from privtune.errors import IntegrityError, NotFoundError, WrongKey
from privtune.workspace import Workspace


def shred_in_recorded_backups(ws: Workspace, refs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Remove ``refs``' data keys from the key escrow of every backup repository ``backup
    create`` recorded (``backup.shred_in_backups``; the passphrase from
    PRIVTUNE_BACKUP_PASSPHRASE, never a prompt). A repository that cannot be opened (gone,
    moved, no or a wrong passphrase, damaged) is listed as pending: ``privtune backup
    shred-sync`` applies every shred of the workspace to it later (so does ``backup create``)."""
    # who may take keys out of the backups (admin; delegated by subject.erase and
    # retention.manage), checked before the list of repositories is read
    ws.access.check("backup.write", "backup-repos", action="shred", versions=len(refs))
    secret = os.environ.get(backup.ENV_BACKUP_PASSPHRASE, "")
    done: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for repo in backup.recorded_repos(ws.store):
        why = ""
        if not (repo / "config.json").is_file():
            why = "repository not found (moved, unmounted or deleted)"
        elif not secret:
            why = f"no backup passphrase ({backup.ENV_BACKUP_PASSPHRASE} is not set)"
        else:
            try:
                n = backup.shred_in_backups(ws.access.check, repo, refs, passphrase=secret.encode())
            except (WrongKey, IntegrityError, NotFoundError, OSError) as exc:
                why = f"cannot open the repository ({type(exc).__name__})"
            else:
                done.append({"repo": str(repo), "keys_removed": n})
        if why:
            pending.append({"repo": str(repo), "reason": why,
                            "action": f"pending: run `privtune backup shred-sync --repo {repo}`"})
    return {"shredded": done, "pending": pending}
