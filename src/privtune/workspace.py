"""The workspace: one directory holding a project's config, metadata store, vault and outputs.

``init_workspace(DIR)`` creates it; ``Workspace.open(DIR)`` is the one entry point every stage
uses. Layout::

    DIR/privtune.yaml   workspace settings (validated by WorkspaceConfig)
    DIR/metadata.db     SQLite metadata store (or any SQLAlchemy URL in ``db_url``)
    DIR/vault/          versioned objects holding personal data
    DIR/models/         base models (non-personal: built locally or copied in)
    DIR/reports/        HTML / JSON reports (counts and figures, never personal data)
    DIR/runs/           per-run logs and metrics
    DIR/keys/           workspace secret and audit signing key, wrapped by the KEK (vault/wskeys.py)
    DIR/audit-head.json the audit log's newest signed head, kept outside the database (0600,
                        see audit/head.py; ``audit_anchor`` names an external copy)

Every folder privtune makes in a workspace is 0700 and every file 0600 (the metadata database
and its WAL too: it is created 0600 before SQLite opens it); ``Workspace.open`` tightens an
older workspace's folders, database and keys the same way, and the CLI runs with umask 077.

Every workspace is opened *as someone*: ``Workspace.open(DIR, api_key=...)`` (or an
already-authenticated ``principal=``). ``ws.guard(op, obj)`` checks the role matrix and writes
the audit event before the operation; the vault calls it on every read, write and listing.
Opened without an identity, every guarded operation is refused (and the refusal audited).

Opening needs the KEK as soon as anything keyed is touched: authentication reads users and API
keys, whose rows are MAC'd under a key derived from the wrapped workspace secret
(``privtune.store.rowmac``); audit events hash identifiers and checkpoints are signed with keys
from the same place. A schema-2 workspace is migrated on open (``Workspace._migrate``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import Field, model_validator
from sqlalchemy.engine import make_url

from privtune.access.admin import in_lockdown
from privtune.access.apikeys import parse_key
from privtune.access.guard import Guard
from privtune.access.principal import Principal
from privtune.access.roles import ADMIN
from privtune.access.users import AuthFailure, IssuedKey, authenticate, create_user
from privtune.audit.log import AuditLog
from privtune.config import StrictModel, read_yaml, validate
from privtune.errors import InputError, PermissionDenied, WorkspaceError
from privtune.fsutil import PRIVATE_DIR, PRIVATE_FILE, atomic_write_text, private_dir
from privtune.lineage import Subjects, subject_key
from privtune.store import MetadataStore
from privtune.store.ledger_models import DEFAULT_BUDGET_EPSILON, MAX_BUDGET_EPSILON
from privtune.store.models import SCHEMA_VERSION
from privtune.vault import KekSpec, Vault
from privtune.vault.kdf import Argon2Params
from privtune.vault.objects import VAULT_ID_KEY
from privtune.vault.wskeys import (
    ROW_MAC_LABEL,
    WorkspaceKeys,
    create_keys,
    load_public_key,
    public_key_text,
    wrap_legacy_keys,
)

CONFIG_FILE = "privtune.yaml"
ENV_WORKSPACE = "PRIVTUNE_WORKSPACE"
ENV_CACHE = "PRIVTUNE_CACHE"
PSEUDONYM_KEY = "pseudonym-key"
SUBDIRS = ("vault", "models", "reports", "runs")
#: Settings of older versions that are ignored when a workspace config is loaded.
RETIRED_CONFIG_KEYS = ("employee_id_column",)


class RetentionConfig(StrictModel):
    """How long each class of vault object is kept (``privtune retention``, docs/compliance.md).

    Days count from a version's creation (raw, de-identified) or from the moment a newer version
    of the same adapter superseded it (adapters: the latest version never expires). ``None``
    keeps the class until erased. Key objects, policies, the schema mapping, canaries and
    subject requests are never expired by retention."""

    raw_days: int | None = Field(
        default=90, ge=0, description="ingested export tables and texts: days after ingest")
    deidentified_days: int | None = Field(
        default=730, ge=0, description="de-identified tables/texts and training sets: days "
                                       "after they were written (2 years)")
    adapter_days_after_superseded: int | None = Field(
        default=365, ge=0, description="adapters and checkpoints: days after a newer version "
                                       "superseded them (1 year)")
    report_days: int | None = Field(
        default=None, ge=0, description="audit reports: days after they were written "
                                        "(None: kept as evidence)")
    objects: dict[str, int | None] = Field(
        default_factory=dict, description="per object name (a dataset, a model): its own "
                                          "period in days, counted as for its class")


class WorkspaceConfig(StrictModel):
    """Settings stored in ``privtune.yaml``."""

    name: str = "privtune"
    schema_version: int = SCHEMA_VERSION
    created_at: str = ""
    audit_public_key: str = Field(
        default="",
        description="the audit log's Ed25519 public key (base64, pinned at init): "
                    "`audit-log verify` checks signatures with it and fails without it",
    )
    db_url: str = Field(
        default="sqlite:///{workspace}/metadata.db",
        description="SQLAlchemy URL; '{workspace}' expands to the workspace directory",
    )
    dp_budget_epsilon: float = Field(
        default=DEFAULT_BUDGET_EPSILON, gt=0, le=MAX_BUDGET_EPSILON,
        description="epsilon every source export may spend over all DP runs unless "
                    "`privtune dp budget` sets its own (docs/dp.md)",
    )
    erasure_approval: Literal["none", "other-user", "other-role"] = Field(
        default="other-user",
        description="four-eyes on erasure requests (docs/compliance.md): 'other-user' (default) "
                    "needs approval by a user other than the requester, 'other-role' by a user "
                    "of another role too, 'none' runs a request without approval",
    )
    release_approval: Literal["none", "other-user", "other-role"] = Field(
        default="none",
        description="four-eyes on releases (docs/console.md): 'none' (default) releases on one "
                    "approval, 'other-user' needs a first approval by another user, "
                    "'other-role' by a user of another role too",
    )
    controller: str = Field(
        default="", description="the controller named in the records of processing (Art. 30)")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="retention periods per class of object and per object (privtune retention)")
    audit_sync: Literal["full", "normal"] = Field(
        default="full",
        description="audit-log durability: 'full' fsyncs every event before its operation, "
                    "'normal' survives process crashes only (see privtune/audit/log.py)",
    )
    audit_anchor: str = Field(
        default="",
        description="external anchor of the audit-log head: '' (none), 'file:/ABSOLUTE/PATH' "
                    "(an append-only file, e.g. on another mount) or 'syslog[:FACILITY]' "
                    "(see privtune/audit/anchor.py)",
    )


    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any) -> Any:
        """Keys of older workspaces that no longer mean anything are dropped, not refused:
        ``employee_id_column`` (each table's id column comes from the schema mapping now,
        :mod:`privtune.pii.mapping`)."""
        if isinstance(data, dict) and any(k in data for k in RETIRED_CONFIG_KEYS):
            data = {k: v for k, v in data.items() if k not in RETIRED_CONFIG_KEYS}
        return data


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
                   kdf: Argon2Params | None = None, admin_key: str | None = None) -> Workspace:
    """Create a workspace in ``directory`` (which may exist but must not hold one already).

    ``kek`` chooses the key-encryption key (default: a passphrase from PRIVTUNE_PASSPHRASE or a
    prompt). The vault is unlocked for the rest of this process.

    Creates the first user, ``admin`` with role admin; the returned workspace acts as it and
    ``ws.initial_key.secret`` is its API key (generated here), to be shown once. ``admin_key``
    provisions a caller-made key instead (an explicit argument only: tests, scripted set-ups
    that keep the key in their own secret store; no environment variable chooses it).

    ``kdf`` sets the Argon2id cost of the passphrase KEK (unless ``kek`` names its own) and of
    the admin's API-key hash; default RFC 9106 (``privtune.vault.kdf``). Both are stored with
    what they protect, so ``Workspace.open`` needs no setting.
    """
    root = Path(directory)
    bootstrap_key = admin_key
    if bootstrap_key is not None and parse_key(bootstrap_key) is None:
        raise InputError("a provisioned admin key must look like ptk_<12 hex>_<43 base64url chars>",
                         field="admin_key")
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
    private_dir(root)
    os.chmod(root, PRIVATE_DIR)
    for sub in SUBDIRS:
        private_dir(root / sub)
    cfg = WorkspaceConfig(
        name=name or root.resolve().name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if db_url:
        cfg.db_url = db_url
    url = _expand_url(cfg.db_url, root)
    _precreate_sqlite(url)
    store = MetadataStore(url)
    store.create()
    if store.get_meta(VAULT_ID_KEY) is None:
        store.set_meta(VAULT_ID_KEY, uuid.uuid4().hex)
    spec = kek or KekSpec()
    if kdf is not None and spec.kdf is None:
        spec = replace(spec, kdf=kdf)
    vault = Vault(root / "vault", store)
    vault.keyring.create(spec)
    cfg.audit_public_key = public_key_text(create_keys(root, vault.keyring))
    keys = WorkspaceKeys(root, lambda: vault.keyring)
    store.set_row_key(lambda: keys.subkey(ROW_MAC_LABEL))
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


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _precreate_sqlite(url: str) -> None:
    """Create a SQLite database file 0600 before SQLite does (it would use the umask's 0644);
    SQLite gives its -wal and -shm files the database file's mode."""
    db = _sqlite_file(url)
    if db is not None and not db.exists():
        private_dir(db.parent)
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        os.chmod(db, PRIVATE_FILE)


def tighten_modes(root: Path, db_url: str) -> None:
    """Folders 0700, database and key files 0600 (for workspaces made before this rule)."""
    for d in (root, *(root / sub for sub in (*SUBDIRS, "keys"))):
        if d.is_dir() and d.stat().st_uid == os.getuid() and d.stat().st_mode & 0o077:
            os.chmod(d, PRIVATE_DIR)
    db = _sqlite_file(db_url)
    files = [root / CONFIG_FILE]
    if db is not None:
        files += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    keys = root / "keys"
    if keys.is_dir():
        files += [p for p in keys.iterdir() if p.is_file()]
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(f, st.st_mode & 0o700)


class Workspace:
    """An opened workspace: config, metadata store and vault."""

    def __init__(self, root: Path, config: WorkspaceConfig, store: MetadataStore,
                 principal: Principal | None = None) -> None:
        self.root = root
        self.config = config
        self.store = store
        self.vault = Vault(root / "vault", store)
        #: The wrapped keys under ``keys/``, unwrapped on first use (needs the unlocked KEK).
        self.keys = WorkspaceKeys(root, lambda: self.vault.keyring)
        store.set_row_key(lambda: self.keys.subkey(ROW_MAC_LABEL))
        #: Checkpoints are signed with the wrapped signing key; heads (head file, anchor, the
        #: vault's signed heads) are checked with the public key pinned in the config.
        self.audit = AuditLog(store.db_url, self.keys.signing_key, sync=config.audit_sync,
                              anchor=config.audit_anchor, head_dir=root,
                              public_key=self.pinned_public_key)
        self.access = Guard(self.keys.subkey, self.audit, principal)
        self.initial_key: IssuedKey | None = None
        self.vault.guard = self.access.vault_hook
        self.vault.signed_heads = self.audit.signed_heads
        self.access.next_version = self._next_version
        self.access.lockdown = lambda: in_lockdown(store)

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
        tighten_modes(root, _expand_url(config.db_url, root))
        store = MetadataStore(_expand_url(config.db_url, root))
        schema = store.check()
        ws = cls(root, config, store, principal)
        ws.vault.keyring.holders.append(ws.keys)
        if schema < SCHEMA_VERSION:
            try:
                ws._migrate(schema)
            except BaseException:
                ws.close()
                raise
        if api_key is not None and principal is None:
            try:
                ws.access.principal = authenticate(store, api_key)
            except AuthFailure as exc:
                ws.access.record_auth_failure(exc.key_id, exc.message)
                ws.close()
                raise PermissionDenied(f"permission denied: {exc.message}") from None
            except BaseException:
                ws.close()  # a locked vault (no KEK: no row key) or a row that fails its MAC
                raise
        return ws

    def pinned_public_key(self) -> Ed25519PublicKey | None:
        """The audit log's public key pinned in the config at init (None: missing or invalid)."""
        return load_public_key(self.config.audit_public_key)

    def _migrate(self, schema: int) -> None:
        """Schema 2 -> 3, on first open by someone holding the KEK: wrap the clear key files,
        pin the audit public key, add and compute the row MACs, record an audit event.

        It trusts the database and files as they are at that moment (whoever could write them
        before could have changed them): run it right after upgrading privtune."""
        keyring = self.vault.keyring
        keyring.unlock()
        pub = wrap_legacy_keys(self.root, keyring)
        if not self.config.audit_public_key:
            self.config.audit_public_key = public_key_text(pub or self.keys.public_key())
        self.config.schema_version = SCHEMA_VERSION
        atomic_write_text(self.root / CONFIG_FILE,
                          yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False))
        rows = self.store.migrate_row_macs()
        p = self.principal
        self.audit.append(actor=p.user_id if p else "-", role=p.role if p else "-",
                          key_id=p.key_id if p else "", op="workspace.migrate", object="metadata",
                          detail={"from": schema, "to": SCHEMA_VERSION, "rows": rows})

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
                        subject_key(self.keys.subkey))

    def pseudonym_key(self) -> bytes:
        return self.vault.get(PSEUDONYM_KEY)

    def close(self) -> None:
        """Sign the audit log's head if this session appended (``AuditLog.seal``), then close."""
        try:
            self.audit.seal()
        finally:
            self.audit.close()
            self.store.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # an error is on its way out: seal what was done, but let that error be the one shown
            self.close()
        except Exception:  # noqa: S110  (the propagating error is the one to report)
            pass
