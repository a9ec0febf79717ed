"""The keyring of a workspace: versioned KEKs, wrapping of data keys, rotation, retirement.

KEK versions live in the ``keks`` table; wrapped data keys in ``data_keys`` (one per object
version), never in object files. So re-wrapping (``rotate``) leaves payload bytes untouched,
and destroying a wrapped key (``shred``) makes that version unreadable everywhere.

A KEK version is unlocked at most once per process (the derived key or the Transit client is
kept in memory for the life of the process, never on disk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select

from privtune.errors import InputError, NotFoundError, WorkspaceError
from privtune.store import DataKey, Kek, MetadataStore
from privtune.vault import kek as kekmod
from privtune.vault.kek import KekProvider, KekSpec, LocalKek, TransitKek

#: Unlocked providers of this process, by (vault id, KEK version).
_UNLOCKED: dict[tuple[str, int], KekProvider] = {}


def forget_unlocked(vault_id: str | None = None) -> None:
    """Drop the unlocked KEKs of this process: every one, or those of the vault ``vault_id``
    (tests; long-lived servers on lock)."""
    if vault_id is None:
        _UNLOCKED.clear()
        return
    for key in [k for k in _UNLOCKED if k[0] == vault_id]:
        del _UNLOCKED[key]


@dataclass(frozen=True)
class KekInfo:
    version: int
    provider: str
    status: str
    created_at: datetime
    data_keys: int
    detail: str


class WrappedHolder(Protocol):
    """Keys wrapped by this keyring outside the ``data_keys`` table (the workspace's key files,
    ``privtune.vault.wskeys.WorkspaceKeys``): re-wrapped on rotation, counted on retirement."""

    def kek_versions(self) -> set[int]: ...

    def rewrap(self, keyring: Keyring, version: int) -> int: ...


class Keyring:
    def __init__(self, store: MetadataStore, vault_id: str) -> None:
        self.store = store
        self.vault_id = vault_id
        #: Other keys this keyring wraps (set by the Workspace); rotate and retire cover them.
        self.holders: list[WrappedHolder] = []

    # ------------------------------------------------------------ versions
    def active_version(self) -> int:
        with self.store.session() as s:
            v = s.scalar(select(func.max(Kek.version)).where(Kek.status == "active"))
        if v is None:
            raise WorkspaceError("the workspace has no active key-encryption key")
        return v

    def _row(self, version: int) -> Kek:
        with self.store.session() as s:
            row = s.get(Kek, version)
        if row is None:
            raise NotFoundError(f"no KEK version {version}")
        return row

    def create(self, spec: KekSpec) -> int:
        """Add a new KEK version from ``spec`` and make it the active one."""
        with self.store.session() as s:
            version = (s.scalar(select(func.max(Kek.version))) or 0) + 1
        if spec.provider == "transit":
            prov = TransitKek(spec.transit_url, spec.transit_key, spec.transit_mount)  # type: ignore[arg-type]
            tv = prov.ensure_key()
            params: dict[str, Any] = {"url": spec.transit_url, "key": spec.transit_key,
                                      "mount": spec.transit_mount, "transit_version": tv}
            check = ""
            provider: KekProvider = prov
        else:
            params, kek = kekmod.new_local_params(spec)
            check = kekmod.check_value(kek)
            provider = LocalKek(spec.provider, kek)
        with self.store.session() as s:
            for old in s.scalars(select(Kek).where(Kek.status == "active")):
                old.status = "old"
            s.add(Kek(version=version, provider=spec.provider, params=params, check=check))
        _UNLOCKED[(self.vault_id, version)] = provider
        return version

    def provider(self, version: int) -> KekProvider:
        """The unlocked provider of a KEK version (unlocking it on first use)."""
        key = (self.vault_id, version)
        if key in _UNLOCKED:
            return _UNLOCKED[key]
        row = self._row(version)
        if row.status == "retired":
            raise NotFoundError(f"KEK version {version} is retired")
        if row.provider == "transit":
            p = row.params
            transit = TransitKek(p["url"], p["key"], p.get("mount", "transit"))
            transit.latest_version()  # fails here, clearly, when the server or token is wrong
            prov: KekProvider = transit
        else:
            prov = LocalKek(row.provider, kekmod.derive_local(row.provider, row.params, row.check, version))
        _UNLOCKED[key] = prov
        return prov

    def unlock(self) -> int:
        v = self.active_version()
        self.provider(v)
        return v

    # ------------------------------------------------------------ wrapping
    def wrap(self, data_key: bytes, aad: bytes) -> tuple[int, bytes]:
        v = self.active_version()
        return v, self.provider(v).wrap(data_key, aad)

    def unwrap(self, kek_version: int, blob: bytes, aad: bytes) -> bytes:
        return self.provider(kek_version).unwrap(blob, aad)

    # ------------------------------------------------------------ rotation
    def rotate(self, spec: KekSpec | None = None) -> tuple[int, int]:
        """New KEK version (same provider unless ``spec``); re-wrap every live data key.

        Returns ``(new_version, rewrapped_count)``. Object files are not touched.
        """
        cur = self._row(self.active_version())
        if spec is None:
            p = cur.params
            if cur.provider == "transit":
                spec = KekSpec("transit", transit_url=p["url"], transit_key=p["key"],
                               transit_mount=p.get("mount", "transit"))
            elif cur.provider == "keyfile":
                spec = KekSpec("keyfile", key_file=p["path"])
            else:  # the same passphrase: its strength was checked when it was chosen
                spec = KekSpec("passphrase", allow_weak=True)
        # Unlock every version still in use before anything changes.
        with self.store.session() as s:
            used = set(s.scalars(select(DataKey.kek_version).where(DataKey.wrapped.is_not(None))))
        for h in self.holders:
            used |= h.kek_versions()
        for v in sorted(used):
            self.provider(v)
        if spec.provider == "transit" and cur.provider == "transit" and \
                spec.transit_key == cur.params["key"] and spec.transit_url == cur.params["url"]:
            TransitKek(spec.transit_url, spec.transit_key, spec.transit_mount).rotate()  # type: ignore[arg-type]
        new = self.create(spec)
        count = 0
        with self.store.session() as s:
            for dk in s.scalars(select(DataKey).where(DataKey.wrapped.is_not(None),
                                                      DataKey.kek_version != new)):
                aad = self.aad(dk.name, dk.version)
                plain = self.unwrap(dk.kek_version, dk.wrapped, aad)  # type: ignore[arg-type]
                dk.wrapped = self.provider(new).wrap(plain, aad)
                dk.kek_version = new
                count += 1
        for h in self.holders:
            h.rewrap(self, new)
        return new, count

    def retire(self, version: int) -> None:
        """Retire an old KEK version: its parameters are erased; it can never unwrap again."""
        row = self._row(version)
        if row.status == "active":
            raise InputError(f"KEK version {version} is the active one; rotate first")
        if row.status == "retired":
            return
        with self.store.session() as s:
            n = s.scalar(select(func.count()).select_from(DataKey).where(
                DataKey.kek_version == version, DataKey.wrapped.is_not(None)))
        if n:
            raise InputError(f"KEK version {version} still wraps {n} data keys; run `privtune keys rotate`")
        if any(version in h.kek_versions() for h in self.holders):
            raise InputError(f"KEK version {version} still wraps the workspace's key files; "
                             "run `privtune keys rotate`")
        if row.provider == "transit":
            self._retire_transit(row)
        with self.store.session() as s:
            r = s.get(Kek, version)
            if r is None:
                raise NotFoundError(f"no KEK version {version}")
            r.status = "retired"
            r.params = {k: v for k, v in r.params.items() if k in ("url", "key", "mount", "transit_version")}
            r.check = ""
            r.retired_at = datetime.now(UTC)
        _UNLOCKED.pop((self.vault_id, version), None)

    def _retire_transit(self, row: Kek) -> None:
        p = row.params
        with self.store.session() as s:
            live = [k for k in s.scalars(select(Kek).where(Kek.provider == "transit", Kek.status != "retired",
                                                            Kek.version != row.version))
                    if k.params.get("key") == p["key"] and k.params.get("url") == p["url"]]
        prov = TransitKek(p["url"], p["key"], p.get("mount", "transit"))
        if live:
            prov.set_min_decryption_version(min(int(k.params["transit_version"]) for k in live))

    def status(self) -> list[KekInfo]:
        with self.store.session() as s:
            rows = s.scalars(select(Kek).order_by(Kek.version)).all()
            counts = dict(s.execute(select(DataKey.kek_version, func.count()).where(
                DataKey.wrapped.is_not(None)).group_by(DataKey.kek_version)).all())
        out = []
        for r in rows:
            p = r.params
            if r.provider == "passphrase":
                detail = f"argon2id t={p.get('t')} m={p.get('m_kib')}KiB p={p.get('p')}" if p.get("salt") else ""
            elif r.provider == "keyfile":
                detail = p.get("path", "")
            else:
                detail = f"{p.get('url')} key={p.get('key')} v{p.get('transit_version')}"
            out.append(KekInfo(r.version, r.provider, r.status, r.created_at, counts.get(r.version, 0), detail))
        return out

    def aad(self, name: str, version: int) -> bytes:
        return f"{self.vault_id}:{name}@{version}".encode()
