"""Encrypted, deduplicated, incremental backups of a workspace with a verified restore
(``privtune backup ...``; docs/operations.md). ``shred_in_backups`` is the one call through which
crypto-shredding reaches the backups."""

from privtune.backup.repo import ENV_BACKUP_PASSPHRASE, Repo
from privtune.backup.snapshot import (
    CreateResult,
    RestoreResult,
    Source,
    VerifyResult,
    create,
    recorded_repos,
    restore,
    shred_in_backups,
    verify,
)

__all__ = ["ENV_BACKUP_PASSPHRASE", "CreateResult", "Repo", "RestoreResult", "Source",
           "VerifyResult", "create", "recorded_repos", "restore", "shred_in_backups", "verify"]
