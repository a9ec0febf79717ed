"""Shared fixtures: an isolated cache and workspace per test session, offline mode on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Hypothesis: no per-example deadline and no "generation too slow" health check anywhere. On a
# 2-core machine shared by several jobs (CI, pytest-xdist workers) wall-clock checks fail
# tests that assert nothing about time; speed goals live in bench/.
from hypothesis import HealthCheck, settings

settings.register_profile("privtune", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("privtune")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The vault's KEK: a fixed test passphrase.
os.environ.setdefault("PRIVTUNE_PASSPHRASE", "test passphrase, not a secret")
# Access control: one admin key that every workspace made by the tests gets at init (provisioned
# by the ``test_admin_key`` fixture below, never by an environment variable read by privtune)
# and that the CLI acts with (docs/access.md, "Tests").
TEST_ADMIN_KEY = "ptk_0123456789ab_" + "T" * 43
os.environ.setdefault("PRIVTUNE_API_KEY", TEST_ADMIN_KEY)

from privtune.vault import kdf  # noqa: E402  (after the environment above is set)
from privtune.vault.kdf import Argon2Params  # noqa: E402

# Cheap Argon2id for the KEK and API-key hashes (tests only). Production code takes it only as
# an explicit argument (``init_workspace(..., kdf=TEST_KDF)``, ``KekSpec(kdf=...)``); no
# environment variable selects it.
TEST_KDF = Argon2Params(time_cost=1, memory_kib=64, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_kdf() -> Iterator[Argon2Params]:
    """Calls that cannot take an argument (the in-process CLI, key rotation, users added later)
    use the module default: this test-only fixture sets it to ``TEST_KDF`` for the session
    (session-scoped and autouse, so it is in place before any other session fixture). A
    workspace opened later, in this process or another, needs no setting: the parameters are
    stored with what they protect."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kdf, "DEFAULT", TEST_KDF)
        yield TEST_KDF


@pytest.fixture(scope="session", autouse=True)
def test_admin_key() -> Iterator[str]:
    """Every workspace a test creates gets ``TEST_ADMIN_KEY`` as its first admin's key: this
    test-only fixture sets ``init_workspace``'s ``admin_key`` default for the session (so the
    in-process CLI's ``init`` and the demo get it too). Production code has no such setting:
    ``init`` generates the key and prints it once. A test that needs the real behaviour sets the
    default back to None with its own monkeypatch."""
    from privtune import workspace as wsmod

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(wsmod.init_workspace.__kwdefaults__, "admin_key", TEST_ADMIN_KEY)
        yield TEST_ADMIN_KEY


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's ~/.cache/privtune."""
    cache = tmp_path_factory.mktemp("privtune-cache")
    old = os.environ.get("PRIVTUNE_CACHE")
    os.environ["PRIVTUNE_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("PRIVTUNE_CACHE", None)
    else:
        os.environ["PRIVTUNE_CACHE"] = old


class WorkspaceFactory:
    """Fresh workspaces for tests, each a full copy of one that ``init_workspace`` made once per
    session (its DDL, key generation and fsyncs cost most of a second a workspace).

    ``new(root)`` copies the template's files to ``root`` (a SQLite database given by ``db_url``
    outside the workspace is copied too) and opens the copy as its bootstrap admin, with
    ``initial_key`` set, as ``init_workspace`` returns it. Every copy has its own files, hence
    its own database, vault, key files and audit chain, all consistent (the same ones the
    template's init wrote); copies share the template's identity (vault id, KEK, keys,
    ``TEST_ADMIN_KEY``). A test about init itself, or that needs two workspaces with different
    keys, calls ``init_workspace``. Other databases (PostgreSQL) are made by ``init_workspace``.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._templates: dict[str, tuple[Path, Path | None, Any, str, bool]] = {}

    def _template(self, external_db: bool) -> tuple[Path, Path | None, Any, str, bool]:
        from privtune.workspace import init_workspace

        kind = "external-db" if external_db else "default"
        if kind not in self._templates:
            base = self.base / kind
            db = base / "meta.db" if external_db else None
            ws = init_workspace(base / "ws", db_url=f"sqlite:///{db}" if db else None,
                                kdf=TEST_KDF, admin_key=TEST_ADMIN_KEY)
            issued, vault_id, unsigned = ws.initial_key, ws.vault.keyring.vault_id, ws.audit._dirty
            # Closed without ``seal``: init's events stay unsigned, as in the workspace that
            # ``init_workspace`` returns (its close signs them: a copy's close does the same).
            ws.audit.close()
            ws.store.dispose()
            self._templates[kind] = (base / "ws", db, issued, vault_id, unsigned)
        return self._templates[kind]

    def new(self, root: Path, *, db_url: str | None = None):
        import shutil

        import yaml
        from sqlalchemy.engine import make_url

        from privtune.access.principal import Principal
        from privtune.vault.keyring import forget_unlocked
        from privtune.workspace import CONFIG_FILE, Workspace, init_workspace

        db_file: Path | None = None
        if db_url is not None:
            parsed = make_url(db_url)
            if parsed.get_backend_name() != "sqlite" or not parsed.database:
                return init_workspace(root, db_url=db_url, kdf=TEST_KDF, admin_key=TEST_ADMIN_KEY)
            db_file = Path(parsed.database)
        tpl, tpl_db, issued, vault_id, unsigned = self._template(db_file is not None)
        root = Path(root)
        if (root / CONFIG_FILE).exists() or (db_file is not None and db_file.exists()):
            raise AssertionError(f"{root} already holds a workspace")
        shutil.copytree(tpl, root, dirs_exist_ok=True)
        if db_file is not None and tpl_db is not None:
            for suffix in ("", "-wal", "-shm"):
                src = tpl_db.with_name(tpl_db.name + suffix)
                if src.exists():
                    shutil.copy2(src, db_file.with_name(db_file.name + suffix))
        cfg = yaml.safe_load((root / CONFIG_FILE).read_text(encoding="utf-8"))
        cfg["name"] = root.resolve().name
        if db_url is not None:
            cfg["db_url"] = db_url
        (root / CONFIG_FILE).write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        # KEKs another copy unlocked or created (a rotation) in this process are not this one's.
        forget_unlocked(vault_id)
        ws = Workspace.open(root, principal=Principal(issued.user_id, issued.handle, issued.role,
                                                      issued.key_id))
        ws.initial_key = issued
        ws.audit._dirty = unsigned  # init's events belong to this session: its close signs them
        ws.vault.keyring.unlock()  # init leaves the vault unlocked for the rest of the process
        return ws


@pytest.fixture(scope="session")
def make_workspace(tmp_path_factory: pytest.TempPathFactory, cheap_kdf: Argon2Params,
                   test_admin_key: str) -> Callable[..., Any]:
    """``make_workspace(root, db_url=None)``: a fresh workspace at ``root`` (``WorkspaceFactory``)."""
    return WorkspaceFactory(tmp_path_factory.mktemp("workspace-templates")).new


@pytest.fixture()
def workspace(tmp_path: Path, make_workspace: Callable[..., Any]):
    ws = make_workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def guard_scratch(tmp_path_factory: pytest.TempPathFactory,
                  make_workspace: Callable[..., Any]) -> dict[str, Any]:
    """A scratch workspace holding one object of each kind the guarded entry points read, and a
    viewer: the inventories run every command (tests/cli/test_every_command_guarded.py) and
    every library entry point (tests/access/test_entry_points_guarded.py) in it, once per module.

    No ``policies``: a base model is then built from generic text only, and the entry point must
    still be guarded. The adapter's record and base hash check out, so calls reach the vault read.
    Returns ``root``, ``viewer`` (its key), ``base`` (a folder for the caller's files),
    ``export`` (a one-row HR export), ``bref`` (the base model) and ``record`` (the adapter's).
    """
    from privtune.access import admin
    from privtune.anonymity.gate import META_KEY
    from privtune.gate.adapters import ADAPTER_SCHEMA
    from privtune.models.loading import model_dir_hash
    from privtune.records import AdapterRecord, BaseModelRef

    base = tmp_path_factory.mktemp("guard-scratch")
    root = base / "ws"
    ws = make_workspace(root)
    viewer = admin.add_user(ws.access, ws.store, "v", "viewer").secret
    ws.vault.put("employees", b"employee_id\nE00001\n", kind="table")
    ws.vault.put("employees-deid", b"employee_id\nEMP-0\n", kind="table",
                 meta={META_KEY: {"ok": True}})  # passes the anonymity check: the read decides
    ws.vault.put("trainset", b"{}\n", kind="examples")
    ws.vault.put("valset", b"{}\n", kind="examples")
    bdir = base / "basedir"
    bdir.mkdir()
    (bdir / "config.json").write_text("{}")
    (bdir / "model.safetensors").write_bytes(b"never read: the vault read is refused")
    record = AdapterRecord(train={}, train_data="trainset@1", val_data="valset@1",
                           base_model=str(bdir), base_model_sha256=model_dir_hash(bdir),
                           privacy={"dp": False},
                           metrics={"initial_val_loss": 1.0, "final_val_loss": 1.0},
                           checkpoints=[])
    (base / "adir").mkdir()
    (base / "adir" / "adapter_config.json").write_text("{}")
    ws.vault.put_dir("adapter", base / "adir", kind="adapter", schema=ADAPTER_SCHEMA,
                     meta=record.to_dict())
    ws.close()
    export = base / "export"
    export.mkdir()
    (export / "employees.csv").write_text("employee_id,first_name\nE00001,Ann\n")
    bref = BaseModelRef(dir=bdir, sha256=model_dir_hash(bdir), kind="local", trained_on="test")
    return {"root": root, "viewer": viewer, "base": base, "export": export, "bref": bref,
            "record": record}


# --- metadata backends: SQLite always, PostgreSQL too when PRIVTUNE_TEST_PG_URL is set (.ci/run
# starts a server and sets it). Tests taking ``db_url`` run once per backend.
PG_ENV = "PRIVTUNE_TEST_PG_URL"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgresql"] if os.environ.get(PG_ENV) else [])
        metafunc.parametrize("db_backend", backends)


@pytest.fixture()
def db_url(db_backend: str, tmp_path: Path):
    """A fresh, empty metadata database URL: a SQLite file, or a new PostgreSQL database."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/meta.db"
        return
    import secrets

    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(os.environ[PG_ENV])
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"privtune_t_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def two_employees():
    """A two-row HRIS employees table with every identifier column (PII tests and deid tests)."""
    import pyarrow as pa

    return pa.table(
        {
            "employee_id": ["E00001", "E00002"],
            "first_name": ["Maria", "Tom"],
            "last_name": ["Garcia", "Okafor"],
            "email": ["maria.garcia@acme.com", "tom.okafor@acme.com"],
            "phone": ["(415) 372-0134", "(212) 555-0199"],
            "ssn": ["123-45-6789", "234-56-7890"],
            "date_of_birth": ["1985-03-14", "1990-12-01"],
            "zip": ["02134", "10001"],
            "department": ["Sales", "Legal"],
            "manager_id": [None, "E00001"],
            "salary": ["85000", "123456"],
            "iban": ["DE89370400440532013000", "GB82WEST12345698765432"],
            "emergency_contact_name": ["Carlos Garcia", "Ada Okafor"],
            "notes": ["Maria Garcia prefers remote work on Fridays in the summer", "Tom Okafor asked about parking passes again"],
            "shirt_size": ["M", "L"],
        }
    )
