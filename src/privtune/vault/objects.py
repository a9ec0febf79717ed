"""Versioned vault objects: ``put`` writes a new immutable version, ``get`` reads one back."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from privtune.errors import InputError, IntegrityError, NotFoundError
from privtune.fsutil import atomic_write
from privtune.store import MetadataStore, ObjectVersion

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
KINDS = ("dataset", "table", "texts", "examples", "key", "adapter", "report", "blob")


@dataclass(frozen=True)
class ObjectRef:
    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str) -> ObjectRef:
    """``"employees@3"`` -> ObjectRef("employees", 3); ``"employees"`` -> latest."""
    name, sep, ver = text.partition("@")
    if not NAME_RE.match(name):
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


class Vault:
    """Object versions under ``root/objects/<name>/<version>.obj`` with manifests in the store."""

    def __init__(self, root: Path, store: MetadataStore, *, creator: str = "local") -> None:
        self.root = Path(root)
        self.store = store
        self.creator = creator
        #: Permission + audit hook ``guard(action, ref, kind)``, set by the Workspace; it runs
        #: before every read, write and listing and raises to refuse (privtune.access.guard).
        self.guard: Callable[[str, str, str | None], None] | None = None

    def _guard(self, action: str, ref: str, kind: str | None = None) -> None:
        if self.guard is not None:
            self.guard(action, ref, kind)

    # ------------------------------------------------------------------ write
    def put(
        self,
        name: str,
        data: bytes,
        *,
        kind: str = "blob",
        schema: str = "",
        parents: list[str] | tuple[str, ...] = (),
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Store ``data`` as the next version of ``name``; return its ``name@version``."""
        ref = parse_ref(name)
        if ref.version is not None:
            raise InputError("put takes a bare name; versions are assigned by the vault")
        if kind not in KINDS:
            raise InputError(f"unknown object kind; allowed: {', '.join(KINDS)}")
        resolved_parents = [self.resolve(p) for p in parents]
        self._guard("write", ref.name, kind)
        digest = hashlib.sha256(data).hexdigest()
        with self.store.session() as s:
            latest = s.scalar(
                select(func.max(ObjectVersion.version)).where(ObjectVersion.name == ref.name)
            )
            version = (latest or 0) + 1
            relpath = f"objects/{ref.name}/{version}.obj"
            atomic_write(self.root / relpath, data)
            s.add(
                ObjectVersion(
                    name=ref.name,
                    version=version,
                    kind=kind,
                    relpath=relpath,
                    sha256=digest,
                    size=len(data),
                    schema=schema,
                    creator=self.creator,
                    parents=resolved_parents,
                    meta=meta or {},
                )
            )
        return f"{ref.name}@{version}"

    def put_dir(self, name: str, directory: Path, **kw: Any) -> str:
        """Store a directory (e.g. a LoRA adapter) as one tar object."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path in sorted(Path(directory).rglob("*")):
                if path.is_file():
                    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(directory)))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
        return self.put(name, buf.getvalue(), schema=kw.pop("schema", "tar"), **kw)

    # ------------------------------------------------------------------ read
    def manifest(self, ref: str) -> ObjectVersion:
        r = parse_ref(ref)
        with self.store.session() as s:
            q = select(ObjectVersion).where(ObjectVersion.name == r.name)
            if r.version is None:
                q = q.order_by(ObjectVersion.version.desc()).limit(1)
            else:
                q = q.where(ObjectVersion.version == r.version)
            row = s.scalars(q).first()
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

    def get(self, ref: str) -> bytes:
        row = self.manifest(ref)
        self._guard("read", row.ref, row.kind)
        path = self.root / row.relpath
        if not path.is_file():
            raise IntegrityError(f"vault object '{row.ref}' is missing its payload file")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise IntegrityError(f"vault object '{row.ref}' does not match its manifest hash")
        return data

    def get_dir(self, ref: str, dest: Path) -> Path:
        """Unpack a directory object into ``dest`` (a private temp dir chosen by the caller)."""
        with tarfile.open(fileobj=io.BytesIO(self.get(ref)), mode="r") as tar:
            tar.extractall(dest, filter="data")
        return dest

    def list(self) -> list[ObjectVersion]:
        self._guard("list", "")
        with self.store.session() as s:
            rows = s.scalars(
                select(ObjectVersion).order_by(ObjectVersion.name, ObjectVersion.version)
            ).all()
        return list(rows)
