"""Versioned vault objects: ``put`` writes a new immutable, encrypted version; ``get`` reads one.

Each version is one container file (:mod:`privtune.vault.format`) under
``root/objects/<name>/<version>-<token>.obj``, encrypted under a fresh data key that is
wrapped by the workspace's KEK (:mod:`privtune.vault.keyring`) and stored in the metadata
store, next to the manifest (SHA-256 of plaintext and ciphertext, size, schema, creator,
parents). Writes are atomic and durable; a version becomes visible only when its manifest row
commits, after its file was fsynced and renamed into place. Inside :meth:`Vault.transaction`
several versions (an export's tables and texts) become visible together, in one store
transaction, or none does.

Rollback: the latest version of every name is signed into each audit-log checkpoint
(``privtune.audit.head``); the Workspace hands that map in as ``signed_heads``. A name whose
newest manifest is older than its signed version (the rows of ``rb@2`` deleted) fails
``get NAME``, ``put`` and ``verify`` with IntegrityError instead of silently serving ``rb@1``;
``verify`` also reports every gap in a name's versions.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import re
import secrets
import tarfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privtune.errors import (
    InputError,
    IntegrityError,
    KeyDestroyed,
    NotFoundError,
    ObjectKindConflict,
)
from privtune.fsutil import atomic_file, private_output, remove_stale_temps
from privtune.store import DataKey, MetadataStore, ObjectVersion
from privtune.vault import format as fmt
from privtune.vault import names
from privtune.vault.keyring import Keyring

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")  # used with fullmatch: no trailing newline
KINDS = ("dataset", "table", "texts", "examples", "key", "adapter", "report", "blob", "roster")
VAULT_ID_KEY = "vault_id"


class VaultGuard(Protocol):
    """The permission-and-audit hook (``privtune.access.guard.Guard.vault_hook``): ``action`` is
    read/write/list/shred, ``kind`` the object's kind (for a write: the kind fixed by its first
    version or its reserved name, see :mod:`privtune.vault.names`); a non-empty ``refusal``
    means the vault refuses the write whatever the role, and the hook must audit a deny and
    raise."""

    def __call__(self, action: str, ref: str, kind: str | None, refusal: str = "") -> None: ...


@dataclass(frozen=True)
class ObjectRef:
    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str) -> ObjectRef:
    """``"employees@3"`` -> ObjectRef("employees", 3); ``"employees"`` -> latest."""
    name, sep, ver = text.partition("@")
    if not NAME_RE.fullmatch(name):
        raise InputError(
            "object names are 1-128 characters of a-z, 0-9, '.', '_' or '-', starting with a "
            "letter or digit",
            field=name[:40],
        )
    if not sep or ver in ("", "latest"):
        return ObjectRef(name)
    if not ver.isdigit() or int(ver) < 1:
        raise InputError(f"version of '{name}' must be a positive integer or 'latest'")
    return ObjectRef(name, int(ver))


@dataclass(frozen=True)
class VerifyResult:
    ref: str
    ok: bool
    status: str  # ok | damaged | missing | shredded
    message: str = ""


@dataclass
class _Pending:
    """What a :meth:`Vault.transaction` holds until it commits: rows to add, files to drop."""

    rows: list[Any] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    latest: dict[str, int] = field(default_factory=dict)  # name -> highest pending version
    refs: set[str] = field(default_factory=set)           # name@version of each pending put


class _EncryptingSink:
    """A write-only file object that encrypts into ``fh`` and hashes the ciphertext."""

    def __init__(self, enc: fmt.Encryptor, fh: BinaryIO) -> None:
        self.enc, self.fh = enc, fh
        self.ct_hash = hashlib.sha256()
        self.ct_size = 0

    def _out(self, data: bytes) -> None:
        if data:
            self.ct_hash.update(data)
            self.fh.write(data)
            self.ct_size += len(data)

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        step = 1 << 20  # feed at most 1 MiB at a time: the ciphertext is never held whole
        for i in range(0, len(view), step):
            self._out(self.enc.update(view[i:i + step]))
        return len(view)

    def finish(self) -> fmt.StreamInfo:
        self._out(self.enc.finish())
        return fmt.StreamInfo(self.enc.size, self.enc.sha256, self.ct_size, self.ct_hash.hexdigest())


class _ChunkReader(io.RawIOBase):
    """A read-only file object over verified plaintext chunks (for tarfile streaming)."""

    def __init__(self, chunks: Iterator[bytes | memoryview]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not len(self._buf):
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._buf = memoryview(nxt)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class Vault:
    """Encrypted object versions under ``root/objects/`` with manifests and keys in the store."""

    def __init__(self, root: Path, store: MetadataStore, *, creator: str = "local",
                 chunk_size: int = fmt.DEFAULT_CHUNK_SIZE) -> None:
        self.root = Path(root)
        self.store = store
        self.creator = creator
        self.chunk_size = chunk_size
        self._keyring: Keyring | None = None
        #: Permission + audit hook ``guard(action, ref, kind)``, set by the Workspace; it runs
        #: before every read, write, listing and shred and raises to refuse (privtune.access.guard).
        self.guard: VaultGuard | None = None
        #: ``signed_heads() -> (where, {name: latest version})``: the versions signed into the
        #: newest audit-log checkpoint, set by the Workspace (``AuditLog.signed_heads``).
        self.signed_heads: Callable[[], tuple[str, Mapping[str, int]]] | None = None
        self._pending: _Pending | None = None

    def _signed(self) -> tuple[str, Mapping[str, int]]:
        return ("", {}) if self.signed_heads is None else self.signed_heads()

    def _check_head(self, name: str, latest: int | None) -> None:
        """IntegrityError if ``name``'s newest manifest is older than its signed version."""
        where, heads = self._signed()
        want = heads.get(name)
        if want is not None and (latest or 0) < want:
            have = f"version {latest}" if latest else "no version"
            raise IntegrityError(f"vault object '{name}': {where} signed version {want}, the "
                                 f"manifest has {have}: the manifest was rolled back")

    def _guard(self, action: str, ref: str, kind: str | None = None, refusal: str = "") -> None:
        if self.guard is not None:
            self.guard(action, ref, kind, refusal)
        if refusal:  # no hook (a bare Vault), or a hook that did not raise: refuse anyway
            raise ObjectKindConflict(f"permission denied: {refusal}")

    def latest_kind(self, name: str) -> str | None:
        """The kind of ``name``'s latest version (None: no version yet). Not checked (metadata)."""
        with self.store.session() as s:
            return s.scalars(select(ObjectVersion.kind).where(ObjectVersion.name == name)
                             .order_by(ObjectVersion.version.desc()).limit(1)).first()

    def _checked_kind(self, row: ObjectVersion) -> tuple[str, str]:
        """``(kind deciding access, problem)``: a stored kind its reserved name may not hold
        (an old or edited manifest) is overruled by the name's class and reported."""
        problem = names.stored_kind_problem(row.name, row.kind)
        if problem:
            cls = names.name_class(row.name)
            assert cls is not None
            return cls.kinds[0], problem
        return row.kind, ""

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            vid = self.store.get_meta(VAULT_ID_KEY)
            if vid is None:
                raise IntegrityError("the metadata store has no vault id")
            self._keyring = Keyring(self.store, vid)
        return self._keyring

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every version put inside the block becomes visible when the block ends, all together.

        Each put writes (and fsyncs) its encrypted file as it runs, but its manifest and data
        key are held back and committed in one store transaction when the block ends. If the
        block raises (a bad file later in an export, a refused write) nothing commits and the
        files written so far are deleted: readers never see part of the batch. A hard kill
        before the commit can leave encrypted files whose data keys were never stored
        (``stray_files`` lists them; nothing can decrypt them). A nested block joins the
        outer one.
        """
        if self._pending is not None:
            yield
            return
        pending = self._pending = _Pending()
        try:
            yield
            if pending.rows:
                with self.store.session() as s:
                    s.add_all(pending.rows)
        except BaseException:
            for path in pending.paths:
                path.unlink(missing_ok=True)
            raise
        finally:
            self._pending = None

    def pending_ref(self, ref: str) -> str | None:
        """``ref`` when it names a version put in the open transaction (not committed yet)."""
        if self._pending is None:
            return None
        r = parse_ref(ref)
        if r.version is None:
            version = self._pending.latest.get(r.name)
            return None if version is None else f"{r.name}@{version}"
        return str(r) if str(r) in self._pending.refs else None

    def defer(self, rows: builtins.list[Any]) -> bool:
        """Add store rows to the open transaction's commit (False, and nothing done, if none)."""
        if self._pending is None:
            return False
        self._pending.rows.extend(rows)
        return True

    # ------------------------------------------------------------------ write
    def _write(self, name: str, writer: Callable[[BinaryIO, bytes, str], fmt.StreamInfo], *,
               kind: str | None, schema: str,
               parents: list[str] | tuple[str, ...], meta: dict[str, Any] | None) -> str:
        ref = parse_ref(name)
        if ref.version is not None:
            raise InputError("put takes a bare name; versions are assigned by the vault")
        existing = self.latest_kind(ref.name)
        if kind is None:
            kind = names.object_kind(ref.name, "blob", existing)
        if kind not in KINDS:
            raise InputError(f"unknown object kind; allowed: {', '.join(KINDS)}")
        resolved_parents = [self.resolve(p) for p in parents]
        self._check_head(ref.name, self._latest_version(ref.name))
        # Authorised by the object: the kind its first version (or reserved name) fixed decides
        # the operation; claiming another kind is refused and audited (privtune.vault.names).
        self._guard("write", ref.name, names.object_kind(ref.name, kind, existing),
                    names.kind_conflict(ref.name, kind, existing))
        keyring = self.keyring
        keyring.unlock()
        with self.store.session() as s:
            latest = s.scalar(select(func.max(ObjectVersion.version)).where(ObjectVersion.name == ref.name))
            if latest is not None:  # a racing first writer may have fixed another kind meanwhile
                now = s.scalar(select(ObjectVersion.kind).where(ObjectVersion.name == ref.name,
                                                                ObjectVersion.version == latest))
                if now != kind:
                    raise ObjectKindConflict(
                        "permission denied: " + names.kind_conflict(ref.name, kind, now))
            pending = self._pending
            version = max(latest or 0, pending.latest.get(ref.name, 0) if pending else 0) + 1
            aad = keyring.aad(ref.name, version)
            data_key = fmt.new_data_key()
            kek_version, wrapped = keyring.wrap(data_key, aad)
            relpath = f"objects/{ref.name}/{version}-{secrets.token_hex(4)}.obj"
            path = self.root / relpath
            try:
                with atomic_file(path) as fh:
                    info = writer(fh, data_key, aad.decode())
                rows = [ObjectVersion(name=ref.name, version=version, kind=kind, relpath=relpath,
                                      sha256=info.sha256, size=info.size, schema=schema,
                                      creator=self.creator, parents=resolved_parents, meta=meta or {},
                                      ct_sha256=info.ct_sha256, ct_size=info.ct_size),
                        DataKey(name=ref.name, version=version, kek_version=kek_version, wrapped=wrapped)]
                if pending is not None:  # committed with the rest of the transaction
                    pending.rows.extend(rows)
                    pending.paths.append(path)
                    pending.latest[ref.name] = version
                    pending.refs.add(f"{ref.name}@{version}")
                else:
                    s.add_all(rows)
                    s.commit()
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        return f"{ref.name}@{version}"

    def put(self, name: str, data: bytes, *, kind: str | None = None, schema: str = "",
            parents: list[str] | tuple[str, ...] = (), meta: dict[str, Any] | None = None) -> str:
        """Store ``data`` as the next version of ``name``; return its ``name@version``.

        ``kind`` defaults to the object's (its first version's; a new name: its reserved kind,
        else ``blob``); any other kind is refused (:mod:`privtune.vault.names`)."""
        def writer(fh: BinaryIO, data_key: bytes, binding: str) -> fmt.StreamInfo:
            sink = self._sink(fh, data_key, binding)
            sink.write(data)
            return sink.finish()

        return self._write(name, writer, kind=kind, schema=schema, parents=parents, meta=meta)

    def _sink(self, fh: BinaryIO, data_key: bytes, binding: str) -> _EncryptingSink:
        return _EncryptingSink(fmt.Encryptor(data_key, binding, chunk_size=self.chunk_size), fh)

    def put_file(self, name: str, source: str | Path | BinaryIO, *, kind: str | None = None, schema: str = "",
                 parents: list[str] | tuple[str, ...] = (), meta: dict[str, Any] | None = None) -> str:
        """Stream a file (path or binary file object) into the vault with bounded memory."""

        if isinstance(source, (str, Path)):
            p = Path(source)
            if not p.is_file():
                raise InputError("file not found", path=p)

            def writer(fh: BinaryIO, data_key: bytes, binding: str) -> fmt.StreamInfo:
                with p.open("rb", buffering=0) as src:
                    try:
                        os.posix_fadvise(src.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                    except (AttributeError, OSError):  # pragma: no cover - not on every platform
                        pass
                    return fmt.encrypt_stream(src, fh, data_key, binding, chunk_size=self.chunk_size)
        else:
            def writer(fh: BinaryIO, data_key: bytes, binding: str) -> fmt.StreamInfo:
                return fmt.encrypt_stream(source, fh, data_key, binding,
                                          chunk_size=self.chunk_size)

        return self._write(name, writer, kind=kind, schema=schema, parents=parents, meta=meta)

    def put_dir(self, name: str, directory: Path, **kw: Any) -> str:
        """Store a directory (e.g. a LoRA adapter) as one tar object, streamed."""
        directory = Path(directory)
        if not directory.is_dir():
            raise InputError("not a directory", path=directory)

        def writer(fh: BinaryIO, data_key: bytes, binding: str) -> fmt.StreamInfo:
            sink = self._sink(fh, data_key, binding)
            with tarfile.open(fileobj=sink, mode="w|") as tar:  # type: ignore[call-overload]
                for path in sorted(directory.rglob("*")):
                    if path.is_file():
                        info = tar.gettarinfo(str(path), arcname=str(path.relative_to(directory)))
                        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                        info.mode = 0o600
                        with path.open("rb") as src:
                            tar.addfile(info, src)
            return sink.finish()

        kw.setdefault("schema", "tar")
        return self._write(name, writer, kind=kw.pop("kind", None), schema=kw.pop("schema"),
                           parents=kw.pop("parents", ()), meta=kw.pop("meta", None))

    # ------------------------------------------------------------------ read
    def _latest_version(self, name: str) -> int | None:
        with self.store.session() as s:
            return s.scalar(select(func.max(ObjectVersion.version)).where(ObjectVersion.name == name))

    def manifest(self, ref: str) -> ObjectVersion:
        """A version's manifest; a bare name is its latest version, checked against the signed
        heads (IntegrityError if it was rolled back)."""
        r = parse_ref(ref)
        with self.store.session() as s:
            q = select(ObjectVersion).where(ObjectVersion.name == r.name)
            if r.version is None:
                q = q.order_by(ObjectVersion.version.desc()).limit(1)
            else:
                q = q.where(ObjectVersion.version == r.version)
            row = s.scalars(q).first()
        if r.version is None:
            self._check_head(r.name, None if row is None else row.version)
        elif row is None and r.version <= self._signed()[1].get(r.name, 0):
            raise IntegrityError(f"vault object '{r}' is signed in the audit-log heads but its "
                                 "manifest is missing: the manifest was rolled back")
        if row is None:
            raise NotFoundError(f"no vault object '{r}'")
        return row

    def resolve(self, ref: str) -> str:
        return self.manifest(ref).ref

    def exists(self, ref: str) -> bool:
        try:
            self.manifest(ref)
        except NotFoundError:
            return False
        return True

    def _data_key(self, row: ObjectVersion) -> bytes:
        with self.store.session() as s:
            dk = s.scalars(select(DataKey).where(DataKey.name == row.name,
                                                 DataKey.version == row.version)).first()
        if dk is None:
            raise IntegrityError(f"vault object '{row.ref}' has no data key")
        if dk.wrapped is None:
            raise KeyDestroyed(f"vault object '{row.ref}' was crypto-shredded: its data key is destroyed")
        return self.keyring.unwrap(dk.kek_version, dk.wrapped, self.keyring.aad(row.name, row.version))

    def chunks(self, ref: str, *, check_hash: bool = False) -> Iterator[memoryview]:
        """Yield the verified plaintext chunks of a version (bounded memory).

        Every chunk is authenticated (AES-GCM tag, position, end of stream, header bound to this
        ``name@version``) before it is yielded. With ``check_hash`` the plaintext SHA-256 is
        also compared with the manifest, and the last chunk is held back until it matched
        (``verify`` does this). Chunks are views into reused buffers: copy what you keep.
        """
        row = self.manifest(ref)
        self._authorise_read(row)
        yield from self._chunks(row, check_hash=check_hash)

    def _authorise_read(self, row: ObjectVersion) -> None:
        """The read guard, by the kind the object's name may hold (a planted version of another
        kind is refused after the check is audited)."""
        kind, problem = self._checked_kind(row)
        self._guard("read", row.ref, kind)
        if problem:
            raise IntegrityError(problem)


    def _chunks(self, row: ObjectVersion, *, check_hash: bool) -> Iterator[memoryview]:
        """:meth:`chunks` of a manifest row, without the guard (the caller checked)."""
        data_key = self._data_key(row)
        path = self.root / row.relpath
        if not path.is_file():
            raise IntegrityError(f"vault object '{row.ref}' is missing its payload file")
        binding = self.keyring.aad(row.name, row.version).decode()
        h = hashlib.sha256() if check_hash else None
        with path.open("rb", buffering=0) as fh:
            try:
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except (AttributeError, OSError):  # pragma: no cover - not on every platform
                pass
            held: memoryview | None = None
            for pt in fmt.decrypt_chunks(fh, data_key, binding):
                if h is None:
                    yield pt
                    continue
                h.update(pt)
                if held is not None:
                    yield held
                held = pt
        if h is not None:
            if h.hexdigest() != row.sha256:
                raise IntegrityError(f"vault object '{row.ref}' does not match its manifest hash")
            if held is not None:
                yield held

    def get(self, ref: str) -> bytes:
        out = bytearray()
        for pt in self.chunks(ref):
            out += pt
        return bytes(out)

    def get_to(self, ref: str, dest: str | Path | BinaryIO) -> int:
        """Stream a version's plaintext to a file object, or to a path; return the bytes written.

        A path gets plaintext only under the name the caller gave, never in a temporary file
        beside it (a killed process left ``.tmp-*`` files holding a plaintext prefix). The
        whole object is authenticated first (every chunk and the plaintext hash, nothing
        written), then decrypted again straight into ``dest`` (mode 0600); if that second pass
        fails, ``dest`` is removed. Stale temporary files an older privtune left in the target's
        directory are removed first (:func:`privtune.fsutil.remove_stale_temps`).
        """
        if not isinstance(dest, (str, Path)):
            n = 0
            for pt in self.chunks(ref):
                dest.write(pt)
                n += len(pt)
            return n
        path = Path(dest)
        row = self.manifest(ref)
        self._authorise_read(row)
        remove_stale_temps(path.parent)
        for _ in self._chunks(row, check_hash=True):  # damage is found before a byte is written
            pass
        n = 0
        with private_output(path) as fh:
            for pt in self._chunks(row, check_hash=True):
                fh.write(pt)
                n += len(pt)
        return n

    def get_dir(self, ref: str, dest: Path) -> Path:
        """Unpack a directory object into ``dest`` (a private temp dir chosen by the caller)."""
        reader = io.BufferedReader(_ChunkReader(self.chunks(ref)), buffer_size=1 << 16)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(dest, filter="data")
        return dest

    def list(self) -> list[ObjectVersion]:
        self._guard("list", "")
        with self.store.session() as s:
            rows = s.scalars(select(ObjectVersion).order_by(ObjectVersion.name, ObjectVersion.version)).all()
        return list(rows)

    # ------------------------------------------------------------------ checks and erasure
    def shredded(self) -> set[str]:
        with self.store.session() as s:
            rows = s.execute(select(DataKey.name, DataKey.version).where(DataKey.wrapped.is_(None))).all()
        return {f"{n}@{v}" for n, v in rows}

    def verify(self, refs: builtins.list[str] | None = None) -> builtins.list[VerifyResult]:
        """Check ciphertext hash, every chunk's tag and the plaintext hash of each version."""
        rows = self.list() if refs is None else [self.manifest(r) for r in refs]
        gone = self.shredded()
        out = self._missing_versions(None if refs is None else {parse_ref(r).name for r in refs})
        for row in rows:
            if row.ref in gone:
                out.append(VerifyResult(row.ref, True, "shredded", "data key destroyed"))
                continue
            path = self.root / row.relpath
            if not path.is_file():
                out.append(VerifyResult(row.ref, False, "missing", "payload file missing"))
                continue
            h = hashlib.sha256()
            with path.open("rb") as fh:
                while b := fh.read(1 << 20):
                    h.update(b)
            if row.ct_sha256 and h.hexdigest() != row.ct_sha256:
                out.append(VerifyResult(row.ref, False, "damaged", "ciphertext hash differs from manifest"))
                continue
            try:
                for _ in self.chunks(row.ref, check_hash=True):
                    pass
            except IntegrityError as exc:
                out.append(VerifyResult(row.ref, False, "damaged", exc.message))
                continue
            out.append(VerifyResult(row.ref, True, "ok"))
        return out

    def _missing_versions(self, names: set[str] | None) -> builtins.list[VerifyResult]:
        """Versions that should exist but have no manifest: below a name's newest version (a
        gap) or up to its signed head (a rolled-back tail); ``names=None``: every name."""
        where, heads = self._signed()
        with self.store.session() as s:
            q = select(ObjectVersion.name, ObjectVersion.version)
            if names is not None:
                q = q.where(ObjectVersion.name.in_(names))
            present: dict[str, set[int]] = {}
            for n, v in s.execute(q).all():
                present.setdefault(n, set()).add(v)
        out = []
        for name in sorted(set(present) | {n for n in heads if names is None or n in names}):
            have = present.get(name, set())
            top = max(max(have, default=0), heads.get(name, 0))
            for v in range(1, top + 1):
                if v not in have:
                    why = (f"manifest missing; {where} signed version {heads[name]}"
                           if v <= heads.get(name, 0) else "manifest missing (a gap in the versions)")
                    out.append(VerifyResult(f"{name}@{v}", False, "missing", why + ": rolled back "
                                            "or deleted"))
        return out

    def stray_files(self) -> builtins.list[Path]:
        """Files under objects/ that no manifest names (left by a crash; never read)."""
        known = {row.relpath for row in self.list()}
        base = self.root / "objects"
        if not base.is_dir():
            return []
        return sorted(p for p in base.rglob("*") if p.is_file() and str(p.relative_to(self.root)) not in known)

    def shred(self, ref: str, *, recheck: Callable[[Session], None] | None = None) -> str:
        """Crypto-shred one version: destroy its wrapped data key and delete its file.

        ``recheck(session)`` runs inside the transaction that destroys the key, after the key
        row is written (the database's write lock is held, so no other writer can commit
        meanwhile and what it reads is current): raising aborts the shred and nothing changes.
        Retention re-checks its legal holds there."""
        row = self.manifest(ref)
        self._guard("shred", row.ref, self._checked_kind(row)[0])
        with self.store.session() as s:
            dk = s.scalars(select(DataKey).where(DataKey.name == row.name, DataKey.version == row.version)).first()
            if dk is not None:
                dk.wrapped = None
                dk.destroyed_at = datetime.now(UTC)
            if recheck is not None:
                s.flush()  # the UPDATE takes the write lock before the re-check reads
                recheck(s)
        (self.root / row.relpath).unlink(missing_ok=True)
        return row.ref

    def reencrypt_all(self) -> int:
        """``keys rotate --data``: re-encrypt every live version under a fresh data key.

        The new file is written next to the old one; the manifest and key rows switch to it in
        one transaction; then the old file is deleted (its key no longer exists anywhere).
        """
        count = 0
        gone = self.shredded()
        keyring = self.keyring
        for row in self.list():
            if row.ref in gone:
                continue
            aad = keyring.aad(row.name, row.version)
            data_key = fmt.new_data_key()
            kek_version, wrapped = keyring.wrap(data_key, aad)
            relpath = f"objects/{row.name}/{row.version}-{secrets.token_hex(4)}.obj"
            path = self.root / relpath
            try:
                with atomic_file(path) as fh:
                    sink = self._sink(fh, data_key, aad.decode())
                    for pt in self.chunks(row.ref):
                        sink.write(pt)  # Encryptor copies what it buffers
                    info = sink.finish()
                if info.sha256 != row.sha256:
                    raise IntegrityError(f"re-encryption of '{row.ref}' changed its plaintext hash")
                with self.store.session() as s:
                    ov = s.get(ObjectVersion, row.id)
                    if ov is None:
                        raise NotFoundError(f"'{row.ref}' vanished during re-encryption")
                    ov.relpath, ov.ct_sha256, ov.ct_size = relpath, info.ct_sha256, info.ct_size
                    dk = s.scalars(select(DataKey).where(DataKey.name == row.name,
                                                         DataKey.version == row.version)).one()
                    dk.wrapped, dk.kek_version = wrapped, kek_version
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            (self.root / row.relpath).unlink(missing_ok=True)
            count += 1
        return count
