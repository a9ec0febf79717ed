"""The workspace: one directory holding a project's config, metadata store, vault and outputs.

``init_workspace(DIR)`` creates it; ``Workspace.open(DIR)`` is the one entry point every stage
uses. Layout::

    DIR/privtune.yaml   workspace settings (validated by WorkspaceConfig)
    DIR/metadata.db     SQLite metadata store (or any SQLAlchemy URL in ``db_url``)
    DIR/vault/          versioned objects holding personal data
    DIR/models/         base models (non-personal: built locally or copied in)
    DIR/reports/        HTML / JSON reports (counts and figures, never personal data)
    DIR/runs/           per-run logs and metrics
    DIR/keys/           workspace secret and audit signing key (0700 / 0600, see vault/wskeys.py)

Every workspace is opened *as someone*: ``Workspace.open(DIR, api_key=...)`` (or an
already-authenticated ``principal=``). ``ws.guard(op, obj)`` checks the role matrix and writes
the audit event before the operation; the vault calls it on every read, write and listing.
Opened without an identity, every guarded operation is refused (and the refusal audited).
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from privtune.access.apikeys import ENV_BOOTSTRAP_KEY, parse_key
from privtune.access.guard import Guard
from privtune.access.principal import Principal
from privtune.access.roles import ADMIN
from privtune.access.users import AuthFailure, IssuedKey, authenticate, create_user
from privtune.audit.log import AuditLog
from privtune.config import StrictModel, read_yaml, validate
from privtune.errors import InputError, PermissionDenied, WorkspaceError
from privtune.fsutil import atomic_write_text
from privtune.lineage import Subjects, subject_key
from privtune.store import MetadataStore
from privtune.store.ledger_models import DEFAULT_BUDGET_EPSILON, MAX_BUDGET_EPSILON
from privtune.vault import KekSpec, Vault
from privtune.vault.kdf import Argon2Params
from privtune.vault.objects import VAULT_ID_KEY
from privtune.vault.wskeys import create_keys

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
    dp_budget_epsilon: float = Field(
        default=DEFAULT_BUDGET_EPSILON, gt=0, le=MAX_BUDGET_EPSILON,
        description="epsilon every source export may spend over all DP runs unless "
                    "`privtune dp budget` sets its own (docs/dp.md)",
    )
    audit_sync: Literal["full", "normal"] = Field(
        default="full",
        description="audit-log durability: 'full' fsyncs every event before its operation, "
                    "'normal' survives process crashes only (see privtune/audit/log.py)",
    )


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
                   kek: KekSpec | None = None, admin: str = "admin",
                   kdf: Argon2Params | None = None) -> Workspace:
    """Create a workspace in ``directory`` (which may exist but must not hold one already).

    ``kek`` chooses the key-encryption key (default: a passphrase from PRIVTUNE_PASSPHRASE or a
    prompt). The vault is unlocked for the rest of this process.

    Creates the first user, ``admin`` with role admin; the returned workspace acts as it and
    ``ws.initial_key.secret`` is its API key, to be shown once (PRIVTUNE_INIT_ADMIN_KEY
    provisions it instead).

    ``kdf`` sets the Argon2id cost of the passphrase KEK (unless ``kek`` names its own) and of
    the admin's API-key hash; default RFC 9106 (``privtune.vault.kdf``). Both are stored with
    what they protect, so ``Workspace.open`` needs no setting.
    """
    root = Path(directory)
    bootstrap_key = os.environ.get(ENV_BOOTSTRAP_KEY) or None
    if bootstrap_key is not None and parse_key(bootstrap_key) is None:
        raise InputError(f"${ENV_BOOTSTRAP_KEY} must look like ptk_<12 hex>_<43 base64url chars>")
    if (root / CONFIG_FILE).exists():
        raise WorkspaceError(f"{root} already holds a privtune workspace")
    if root.exists() and not root.is_dir():
        raise InputError("not a directory", path=root)
    existed = root.exists()
    try:
        return _init(root, name=name, db_url=db_url, kek=kek, admin=admin,
                     bootstrap_key=bootstrap_key, kdf=kdf)
    except BaseException:
        # Nothing half-made stays behind: a failed init (no key, Transit down) leaves no workspace.
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _init(root: Path, *, name: str | None, db_url: str | None, kek: KekSpec | None,
          admin: str, bootstrap_key: str | None, kdf: Argon2Params | None) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    for sub in SUBDIRS:
        (root / sub).mkdir(exist_ok=True)
    cfg = WorkspaceConfig(
        name=name or root.resolve().name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if db_url:
        cfg.db_url = db_url
    store = MetadataStore(_expand_url(cfg.db_url, root))
    store.create()
    if store.get_meta(VAULT_ID_KEY) is None:
        store.set_meta(VAULT_ID_KEY, uuid.uuid4().hex)
    spec = kek or KekSpec()
    if kdf is not None and spec.kdf is None:
        spec = replace(spec, kdf=kdf)
    Vault(root / "vault", store).keyring.create(spec)
    create_keys(root)
    issued = create_user(store, admin, ADMIN, key=bootstrap_key, kdf=kdf)
    store.dispose()
    # Written last: a workspace is "initialised" only once its config exists.
    atomic_write_text(root / CONFIG_FILE, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    ws = Workspace.open(root, principal=Principal(issued.user_id, issued.handle, issued.role,
                                                  issued.key_id))
    ws.initial_key = issued
    ws.guard("user.manage", "users", action="bootstrap-admin", key_id=issued.key_id)
    ws.vault.put(PSEUDONYM_KEY, secrets.token_bytes(32), kind="key", schema="hmac-sha256-key")
    return ws


def _expand_url(url: str, root: Path) -> str:
    return url.replace("{workspace}", str(root.resolve()))


class Workspace:
    """An opened workspace: config, metadata store and vault."""

    def __init__(self, root: Path, config: WorkspaceConfig, store: MetadataStore,
                 principal: Principal | None = None) -> None:
        self.root = root
        self.config = config
        self.store = store
        self.audit = AuditLog(store.db_url, root, sync=config.audit_sync)
        self.access = Guard(root, self.audit, principal)
        self.initial_key: IssuedKey | None = None
        self.vault = Vault(root / "vault", store)
        self.vault.guard = self.access.vault_hook
        self.access.next_version = self._next_version

    def _next_version(self, name: str) -> int:
        return self.vault.manifest(name).version + 1 if self.vault.exists(name) else 1

    @property
    def principal(self) -> Principal | None:
        return self.access.principal

    def guard(self, op: str, obj: str = "", **detail: object) -> Principal:
        """Check ``op`` on ``obj`` and write its audit event first (see privtune.access.guard)."""
        return self.access.check(op, obj, **detail)

    @classmethod
    def open(cls, directory: str | Path | None = None, *, api_key: str | None = None,
             principal: Principal | None = None) -> Workspace:
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
        ws = cls(root, config, store, principal)
        if api_key is not None and principal is None:
            try:
                ws.access.principal = authenticate(store, api_key)
            except AuthFailure as exc:
                ws.access.record_auth_failure(exc.key_id, exc.message)
                ws.close()
                raise PermissionDenied(f"permission denied: {exc.message}") from None
        return ws

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

    def subjects(self) -> Subjects:
        """The subject index, checked and audited as this workspace's principal."""
        return Subjects(self.store, self.vault, self.access.check, self.access.keyed,
                        subject_key(self.root))

    def pseudonym_key(self) -> bytes:
        return self.vault.get(PSEUDONYM_KEY)

    def close(self) -> None:
        self.audit.close()
        self.store.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
