"""The workspace: one directory holding a project's config, metadata store, vault and outputs.

``init_workspace(DIR)`` creates it; ``Workspace.open(DIR)`` is the one entry point every stage
uses. Layout::

    DIR/privtune.yaml   workspace settings (validated by WorkspaceConfig)
    DIR/metadata.db     SQLite metadata store (or any SQLAlchemy URL in ``db_url``)
    DIR/vault/          versioned objects holding personal data
    DIR/models/         base models (non-personal: built locally or copied in)
    DIR/reports/        HTML / JSON reports (counts and figures, never personal data)
    DIR/runs/           per-run logs and metrics
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import yaml
from pydantic import Field

from privtune.config import StrictModel, read_yaml, validate
from privtune.errors import InputError, WorkspaceError
from privtune.fsutil import atomic_write_text
from privtune.store import MetadataStore
from privtune.vault import KekSpec, Vault
from privtune.vault.objects import VAULT_ID_KEY

CONFIG_FILE = "privtune.yaml"
ENV_WORKSPACE = "PRIVTUNE_WORKSPACE"
ENV_CACHE = "PRIVTUNE_CACHE"
PSEUDONYM_KEY = "pseudonym-key"
SUBDIRS = ("vault", "models", "reports", "runs")


class WorkspaceConfig(StrictModel):
    """Settings stored in ``privtune.yaml``."""

    name: str = "privtune"
    schema_version: int = 2
    created_at: str = ""
    db_url: str = Field(
        default="sqlite:///{workspace}/metadata.db",
        description="SQLAlchemy URL; '{workspace}' expands to the workspace directory",
    )
    employee_id_column: str = "employee_id"


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privtune"


def resolve_workspace_dir(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env)
    return Path.cwd()


def init_workspace(directory: str | Path, *, name: str | None = None, db_url: str | None = None,
                   kek: KekSpec | None = None) -> "Workspace":
    """Create a workspace in ``directory`` (which may exist but must not hold one already).

    ``kek`` chooses the key-encryption key (default: a passphrase from PRIVTUNE_PASSPHRASE or a
    prompt). The vault is unlocked for the rest of this process.
    """
    root = Path(directory)
    if (root / CONFIG_FILE).exists():
        raise WorkspaceError(f"{root} already holds a privtune workspace")
    if root.exists() and not root.is_dir():
        raise InputError("not a directory", path=root)
    existed = root.exists()
    try:
        return _init(root, name=name, db_url=db_url, kek=kek)
    except BaseException:
        # Nothing half-made stays behind: a failed init (no key, Transit down) leaves no workspace.
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _init(root: Path, *, name: str | None, db_url: str | None, kek: KekSpec | None) -> "Workspace":
    root.mkdir(parents=True, exist_ok=True)
    for sub in SUBDIRS:
        (root / sub).mkdir(exist_ok=True)
    cfg = WorkspaceConfig(
        name=name or root.resolve().name,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if db_url:
        cfg.db_url = db_url
    store = MetadataStore(_expand_url(cfg.db_url, root))
    store.create()
    if store.get_meta(VAULT_ID_KEY) is None:
        store.set_meta(VAULT_ID_KEY, uuid.uuid4().hex)
    Vault(root / "vault", store).keyring.create(kek or KekSpec())
    store.dispose()
    # Written last: a workspace is "initialised" only once its config exists.
    atomic_write_text(root / CONFIG_FILE, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    ws = Workspace.open(root)
    ws.vault.put(PSEUDONYM_KEY, secrets.token_bytes(32), kind="key", schema="hmac-sha256-key")
    return ws


def _expand_url(url: str, root: Path) -> str:
    return url.replace("{workspace}", str(root.resolve()))


class Workspace:
    """An opened workspace: config, metadata store and vault."""

    def __init__(self, root: Path, config: WorkspaceConfig, store: MetadataStore) -> None:
        self.root = root
        self.config = config
        self.store = store
        self.vault = Vault(root / "vault", store)

    @classmethod
    def open(cls, directory: str | Path | None = None) -> "Workspace":
        root = resolve_workspace_dir(directory)
        cfg_path = root / CONFIG_FILE
        if not cfg_path.is_file():
            raise WorkspaceError(
                f"no privtune workspace at {root} (create one with `privtune init {root}` "
                f"or point --workspace / {ENV_WORKSPACE} at one)"
            )
        config = validate(WorkspaceConfig, read_yaml(cfg_path), source=str(cfg_path))
        store = MetadataStore(_expand_url(config.db_url, root))
        store.check()
        return cls(root, config, store)

    # directories ---------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def pseudonym_key(self) -> bytes:
        return self.vault.get(PSEUDONYM_KEY)

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
