"""The parts of a workspace the gate works with, handed over by the caller (never the Workspace):
the vault (models, data, the release key), the metadata store (the ``audits``, ``releases`` and
``gate_policies`` tables), where reports go, the pseudonym key that links training tokens to raw
rows in memory, and the guard's check (permission + audit event) for the gate's own operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from privtune.access.principal import Principal
from privtune.store.db import MetadataStore
from privtune.vault import Vault


@dataclass(frozen=True)
class GateSite:
    vault: Vault
    store: MetadataStore
    #: The workspace root: reports are recorded relative to it; the release key's public half
    #: and the default release directories live under it.
    root: Path
    reports_dir: Path
    #: Reads the workspace's pseudonym key (raises NotFoundError when there is none).
    pseudonym_key: Callable[[], bytes]
    #: ``check(op, obj, **detail)``: the Guard's permission check, which writes the audit event
    #: first and raises PermissionDenied (release.approve, policy.write, model.export...).
    check: Callable[..., Principal]
    #: The workspace's default epsilon budget of the people in a source export (the ledger's
    #: ``default_budget``; a budget set with ``privtune dp budget`` overrides it).
    dp_budget_epsilon: float | None = None
    #: Four-eyes on releases (``privtune.gate.approval``): 'none', 'other-user', 'other-role'.
    release_approval: str = "none"
