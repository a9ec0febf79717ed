"""Snapshots of a workspace: create (incremental, deduplicated), verify (every byte), restore.

What a snapshot holds (docs/operations.md, "Backups"):

* the metadata database, copied consistently with SQLite's online backup API while the workspace
  may be in use; in the copy every ``data_keys.wrapped`` is blanked (``secure_delete`` on, so
  the bytes are overwritten, not just unlinked): the wrapped data keys go to the repository's
  key escrow instead, the one place crypto-shredding can still reach;
* the audit-log head file, read **before** the database (a head older than the log it signs
  verifies; a newer one would look like a rollback);
* every vault object file a manifest of the copied database names and whose key is not
  destroyed (files written after the copy are not included, nor stray files of killed writes);
* every other file of the workspace (config, wrapped key files, models, reports, runs), except
  temporaries.

Files are cut into 1 MiB chunks; a chunk already in the repository is not written again, and a
file whose size and mtime match the parent snapshot's is not even read (vault object files are
immutable). A PostgreSQL metadata store is refused: back it up with ``pg_dump`` (see the docs).

Restore writes into a fresh directory next to the target and renames it into place only after
the database's data keys were filled from the escrow (a version the escrow no longer holds is
marked destroyed and its file is not written), so a killed restore leaves no workspace, and no
restore brings a shredded version back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.engine import make_url

from privtune.backup.repo import CHUNK_SIZE, Escrow, Repo, read_file_chunks
from privtune.errors import InputError, IntegrityError, WorkspaceError
from privtune.fsutil import PRIVATE_DIR, PRIVATE_FILE, fsync_dir, private_dir
from privtune.store import DataKey, MetadataStore
from privtune.store.backup_models import BackupRepoRecord, ensure_backup_tables
from privtune.store.rowmac import UNCHECKED_INFO
from privtune.tmp import private_tempdir

DB_FILE = "metadata.db"
HEAD_FILE = "audit-head.json"
SKIP_NAMES = {DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal"}


class Check(Protocol):
    """``check(op, obj, **detail)``: authorize and audit first (``Guard.check``)."""

    def __call__(self, op: str, obj: str = "", **detail: Any) -> object: ...


@dataclass
class Source:
    """What a backup reads from a workspace: its directory, database URL, vault id, and the
    audit signing key that signs the snapshot (the workspace's, so its pinned public key
    verifies it)."""

    root: Path
    db_url: str
    vault_id: str
    signer: Callable[[], Ed25519PrivateKey]
    #: The workspace's store: when given, ``create`` records the repository it writes to
    #: (``backup_repos``), so that an erasure reaches it (:func:`recorded_repos`).
    store: MetadataStore | None = None


@dataclass
class CreateResult:
    snapshot_id: str
    files: int
    bytes_read: int
    bytes_total: int
    chunks_new: int
    bytes_written: int
    seconds: float
    escrowed_keys: int
    shredded_in_escrow: int


@dataclass
class VerifyResult:
    snapshots: int
    chunks: int
    bytes_checked: int
    problems: list[str] = field(default_factory=list)
    unreferenced: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RestoreResult:
    snapshot_id: str
    target: Path
    files: int
    bytes: int
    keys_restored: int
    shredded: list[str]
    seconds: float


def _sqlite_path(db_url: str, root: Path) -> Path:
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise WorkspaceError("this workspace's metadata store is not a SQLite file: back it up with "
                             "`pg_dump --format=custom` next to `privtune backup create` (which "
                             "then covers the vault and keys; see docs/operations.md)")
    path = Path(url.database)
    if path.resolve() != (root / DB_FILE).resolve():
        raise WorkspaceError("backups cover a SQLite store at <workspace>/metadata.db only")
    return path


def _copy_db(db: Path, dest: Path) -> tuple[list[tuple[str, int, int, bytes | None]],
                                            list[tuple[str, str]]]:
    """Consistent copy of ``db`` into ``dest`` with every wrapped data key blanked; returns the
    ``(name, version, kek_version, wrapped)`` of every data key as it was, and the
    ``(relpath, ref)`` of every object version whose key is not destroyed."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
    try:
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("PRAGMA secure_delete=ON")
        rows = dst.execute("SELECT name, version, kek_version, wrapped FROM data_keys").fetchall()
        dst.execute("UPDATE data_keys SET wrapped = NULL")
        dst.commit()
        live = dst.execute("SELECT o.relpath, o.name || '@' || o.version FROM object_versions o "
                           "JOIN data_keys d ON d.name = o.name AND d.version = o.version "
                           "WHERE d.destroyed_at IS NULL").fetchall()
    finally:
        dst.close()
    return ([(str(n), int(v), int(k), None if w is None else bytes(w)) for n, v, k, w in rows],
            [(str(p), str(r)) for p, r in live])


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        rel = d.relative_to(root)
        if rel.parts[:2] == ("vault", "objects"):
            dirnames[:] = []
            continue
        dirnames.sort()
        for f in sorted(filenames):
            if rel == Path(".") and (f in SKIP_NAMES or f == HEAD_FILE):
                continue
            if f.startswith(".tmp-") or f.endswith(".lock"):
                continue
            yield d / f


def create(check: Check, source: Source, repo_dir: Path, *, passphrase: bytes | None = None,
           progress: Callable[[str], None] | None = None) -> CreateResult:
    """Write one snapshot of ``source`` into the repository at ``repo_dir`` (made on first use).

    ``check("backup.write", ...)`` authorizes and audits first. Also applies every shred the
    live workspace has done to the repository's key escrow (the snapshot's keys are escrowed,
    the destroyed ones removed)."""
    t0 = time.perf_counter()
    check("backup.write", str(repo_dir), action="create")
    root = Path(source.root)
    db = _sqlite_path(source.db_url, root)
    repo_dir = Path(repo_dir)
    if root.resolve() == repo_dir.resolve() or root.resolve() in repo_dir.resolve().parents:
        raise InputError("the backup repository must be outside the workspace", path=repo_dir)
    if (repo_dir / "config.json").exists():
        repo = Repo.open(repo_dir, passphrase)
        if repo.config.get("vault_id") != source.vault_id:
            raise InputError(f"the backup repository at {repo_dir} belongs to another workspace")
    else:
        repo = Repo.init(repo_dir, source.signer().public_key(), source.vault_id, passphrase)
    if source.store is not None:
        _record(source.store, repo_dir, str(repo.config.get("repo_id", "")))
    parent_files: dict[str, dict[str, Any]] = {}
    parent = repo.snapshot_ids()[-1] if repo.snapshot_ids() else None
    if parent is not None:
        parent_files = {f["path"]: f for f in repo.read_snapshot(parent)["files"]}
    files: list[dict[str, Any]] = []
    stats = {"read": 0, "total": 0, "new": 0, "written": 0}

    def add(rel: str, data_iter: Iterable[bytes], size: int, mtime_ns: int) -> None:
        h = hashlib.sha256()
        ids = []
        for data in data_iter:
            h.update(data)
            stats["read"] += len(data)
            cid, wrote = repo.put_chunk(data)
            ids.append(cid)
            if wrote:
                stats["new"] += 1
                stats["written"] += wrote
        stats["total"] += size
        files.append({"path": rel, "size": size, "mtime_ns": mtime_ns, "sha256": h.hexdigest(),
                      "chunks": ids})

    def add_file(path: Path, rel: str) -> None:
        st = path.stat()
        old = parent_files.get(rel)
        if old is not None and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns \
                and all(repo.chunk_path(c).exists() for c in old["chunks"]):
            stats["total"] += st.st_size
            files.append(dict(old))
            return
        add(rel, read_file_chunks(path), st.st_size, st.st_mtime_ns)

    with private_tempdir("backup") as tmp:
        head = root / HEAD_FILE
        head_bytes = head.read_bytes() if head.is_file() else None  # before the database
        keys, live = _copy_db(db, tmp / DB_FILE)
        if progress:
            progress(f"database copied ({len(keys)} data keys)")
        if head_bytes is not None:
            add(HEAD_FILE, [head_bytes], len(head_bytes), 0)
        copy = tmp / DB_FILE
        add(DB_FILE, read_file_chunks(copy), copy.stat().st_size, 0)
    for relpath, ref in sorted(live):
        path = root / "vault" / relpath
        if not path.is_file():
            raise WorkspaceError(f"vault object {ref} changed during the backup (its file is gone: "
                                 "re-encrypted or shredded meanwhile); run the backup again")
        add_file(path, f"vault/{relpath}")
    for path in _walk(root):
        add_file(path, str(path.relative_to(root)))
    if progress:
        progress(f"{len(files)} files, {stats['new']} new chunks")
    escrow = repo.read_escrow()
    shredded_now = 0
    for name, version, kek_version, wrapped in keys:
        ref = f"{name}@{version}"
        if wrapped is None:
            shredded_now += escrow.shred(ref)
        else:
            escrow.add(ref, kek_version, wrapped)
    repo.write_escrow(escrow)
    now = datetime.now(UTC)
    sid = f"{now:%Y%m%dT%H%M%S%fZ}-{os.urandom(4).hex()}"  # microseconds: ids sort in time order
    manifest = {"format": "privtune-snapshot/1", "snapshot_id": sid, "parent": parent,
                "created_at": now.isoformat(timespec="seconds"), "vault_id": source.vault_id,
                "files": files, "objects": sorted(ref for _, ref in live),
                "chunk_size": CHUNK_SIZE}
    repo.write_snapshot(manifest, source.signer())
    return CreateResult(sid, len(files), stats["read"], stats["total"], stats["new"],
                        stats["written"], time.perf_counter() - t0,
                        sum(len(v) for v in escrow.keys.values()), shredded_now)


def _record(store: MetadataStore, repo_dir: Path, repo_id: str) -> None:
    """Remember ``repo_dir`` as a repository of this workspace (before anything is written to
    it: a killed backup still leaves it on the list)."""
    ensure_backup_tables(store.engine)
    path = str(Path(repo_dir).resolve())
    with store.session() as s:
        row = s.get(BackupRepoRecord, path)
        if row is None:
            s.add(BackupRepoRecord(path=path, repo_id=repo_id))
        else:
            row.repo_id, row.last_written_at = repo_id, datetime.now(UTC)


def recorded_repos(store: MetadataStore) -> list[Path]:
    """Every backup repository ``create`` has written to for this workspace (row-MAC'd rows;
    the caller checks ``metadata.read``)."""
    ensure_backup_tables(store.engine)
    with store.session() as s:
        return [Path(r.path) for r in s.scalars(select(BackupRepoRecord)
                                                .order_by(BackupRepoRecord.path))]


def shred_in_backups(check: Check, repo_dir: Path, refs: Iterable[str], *,
                     passphrase: bytes | None = None) -> int:
    """Crypto-shred object versions in a backup repository: remove their wrapped data keys from
    its escrow (the only copy the repository holds), so no snapshot can restore them.

    The interface the erasure workflow calls after ``Vault.shred`` (``subject.erase``); every
    ``backup create`` also applies the live workspace's shreds. Returns how many keys went."""
    refs = sorted(set(refs))
    check("backup.write", str(repo_dir), action="shred", versions=len(refs))
    repo = Repo.open(Path(repo_dir), passphrase)
    escrow = repo.read_escrow()
    n = sum(escrow.shred(r) for r in refs)
    repo.write_escrow(escrow)
    return n


def verify(repo_dir: Path, *, passphrase: bytes | None = None, read_data: bool = True) -> VerifyResult:
    """Check every snapshot's signature and, with ``read_data`` (the default), read, decrypt and
    authenticate every chunk they name (a flipped, truncated or missing chunk is a problem)."""
    repo = Repo.open(Path(repo_dir), passphrase)
    problems: list[str] = []
    needed: dict[str, str] = {}
    sids = repo.snapshot_ids()
    for sid in sids:
        try:
            m = repo.read_snapshot(sid)
        except IntegrityError as exc:
            problems.append(exc.message)
            continue
        for f in m["files"]:
            for c in f["chunks"]:
                needed.setdefault(c, f"{sid}:{f['path']}")
    try:
        repo.read_escrow()
    except IntegrityError as exc:
        problems.append(exc.message)
    checked = 0
    have = repo.chunk_ids()
    for cid, where in sorted(needed.items()):
        if cid not in have:
            problems.append(f"chunk {cid[:16]}… of {where} is missing")
            continue
        if read_data:
            try:
                checked += len(repo.get_chunk(cid))
            except IntegrityError as exc:
                problems.append(f"{exc.message} ({where})")
    return VerifyResult(len(sids), len(needed), checked, problems, len(have - set(needed)))


def restore(repo_dir: Path, target: Path, *, snapshot: str | None = None,
            passphrase: bytes | None = None,
            accept: Callable[[Path], None] | None = None) -> RestoreResult:
    """Restore a snapshot into the new directory ``target``.

    Everything is written to a private sibling directory first; the database's data keys are
    filled from the escrow (versions it no longer holds are marked destroyed and their files are
    not written); ``accept(tmpdir)`` may then check the result (the CLI opens it as a workspace,
    checks ``backup.restore`` and verifies vault and audit log) and raise to refuse it; only
    then is the directory renamed onto ``target``. Opening the restored database needs the
    workspace's KEK (``PRIVTUNE_PASSPHRASE`` or its key file), as opening any workspace does."""
    t0 = time.perf_counter()
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"restore target {target} exists and is not empty")
    repo = Repo.open(Path(repo_dir), passphrase)
    sid = snapshot or repo.latest()
    manifest = repo.read_snapshot(sid)
    escrow = repo.read_escrow()
    private_dir(target.parent)
    for stale in target.parent.glob(f".{target.name}.restore-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a restore killed earlier
    tmp = target.parent / f".{target.name}.restore-{os.urandom(4).hex()}"
    tmp.mkdir(mode=PRIVATE_DIR)
    try:
        gone = {ref for ref in manifest["objects"] if ref not in escrow.keys}
        skip = {f"vault/objects/{ref.split('@')[0]}/{ref.split('@')[1]}-" for ref in gone}
        n_files = n_bytes = 0
        for f in manifest["files"]:
            rel = f["path"]
            if any(rel.startswith(s) for s in skip):
                continue
            dest = tmp / rel
            if tmp.resolve() not in dest.resolve().parents:
                raise IntegrityError(f"snapshot {sid} names a path outside the workspace")
            private_dir(dest.parent)
            h = hashlib.sha256()
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as fh:
                for cid in f["chunks"]:
                    data = repo.get_chunk(cid)
                    h.update(data)
                    fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if h.hexdigest() != f["sha256"]:
                raise IntegrityError(f"restored file {rel} of snapshot {sid} has another hash")
            n_files += 1
            n_bytes += f["size"]
        restored = _fill_keys(tmp, escrow, gone)
        if accept is not None:
            accept(tmp)
        for d, _, _ in os.walk(tmp):
            fsync_dir(Path(d))
        os.rename(tmp, target) if not target.exists() else _replace_empty(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RestoreResult(sid, target, n_files, n_bytes, restored, sorted(gone),
                         time.perf_counter() - t0)


def _replace_empty(tmp: Path, target: Path) -> None:
    target.rmdir()
    os.rename(tmp, target)


def _fill_keys(root: Path, escrow: Escrow, gone: set[str]) -> int:
    """Put the escrowed wrapped keys back into the restored database, byte for byte (their row
    MACs then hold again); mark every version the escrow lost destroyed (re-sealed with the
    row key, which needs the workspace's KEK)."""
    db = root / DB_FILE
    conn = sqlite3.connect(db)
    missing: list[int] = []
    n = 0
    try:
        for row_id, name, version, kek_version, destroyed in conn.execute(
                "SELECT id, name, version, kek_version, destroyed_at FROM data_keys").fetchall():
            if destroyed is not None:
                continue
            wrapped = escrow.get(f"{name}@{version}", kek_version)
            if wrapped is None:
                missing.append(row_id)
                continue
            conn.execute("UPDATE data_keys SET wrapped = ? WHERE id = ?", (wrapped, row_id))
            n += 1
        conn.commit()
    finally:
        conn.close()
    if missing:
        _destroy(root, missing)
    return n


def _destroy(root: Path, row_ids: list[int]) -> None:
    from privtune.vault.keyring import Keyring
    from privtune.vault.objects import VAULT_ID_KEY
    from privtune.vault.wskeys import ROW_MAC_LABEL, WorkspaceKeys

    store = MetadataStore(f"sqlite:///{root / DB_FILE}")
    try:
        vid = store.get_meta(VAULT_ID_KEY)
        if vid is None:
            raise IntegrityError("the restored metadata store has no vault id")
        keyring = Keyring(store, vid)
        keys = WorkspaceKeys(root, lambda: keyring)
        keyring.unlock()
        store.set_row_key(lambda: keys.subkey(ROW_MAC_LABEL))
        with store.session() as s:
            s.info[UNCHECKED_INFO] = True
            for dk in s.scalars(select(DataKey).where(DataKey.id.in_(row_ids))):
                dk.wrapped = None
                dk.destroyed_at = datetime.now(UTC)
    finally:
        store.dispose()
