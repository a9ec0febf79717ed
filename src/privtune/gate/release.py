"""``privtune release MODEL``: hand out an adapter only if its latest audit passed, and sign it.

Refusals (:class:`PrivacyPolicyError`, exit 8): the model was trained with
``dp.insecure_reproducible`` (seeded DP randomness: not private); the model was never audited;
the latest audit of its name is of another (older) version or predates the model; the adapter
or its base changed since the audit (hash differs); the latest audit failed.

A release is a directory with the adapter files, the audit verdict (``verdict.json``, numbers
only), ``release.json`` (adapter hash and per-file hashes, audit hash, epsilon/delta, base
hash, model ref) and ``release.sig``: an Ed25519 signature over the canonical ``release.json``.
The signing key is created on first use and kept in the vault (``release-signing-key``); its
public half is written to ``<workspace>/release-signing-key.pub`` for verifiers.
:func:`verify_release` checks the signature against a trusted public key, then every hash:
a changed byte anywhere fails with :class:`IntegrityError` (exit 5).
"""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from privtune.errors import InputError, IntegrityError, NotFoundError, PrivacyPolicyError
from privtune.fsutil import atomic_write, atomic_write_text
from privtune.gate.adapters import adapter_record
from privtune.gate.hashing import ADAPTER_FILES, adapter_hash, file_sha256
from privtune.gate.policy import insecure_randomness
from privtune.gate.site import GateSite
from privtune.gate.verdict import canonical, digest
from privtune.records import ReleaseRecord
from privtune.store.db import MetadataStore
from privtune.store.models import Audit, utcnow
from privtune.tmp import private_tempdir
from privtune.vault import Vault

KEY_NAME = "release-signing-key"
PUBKEY_FILE = "release-signing-key.pub"
RELEASES_DIR = "releases"
MANIFEST, SIGNATURE, VERDICT = "release.json", "release.sig", "verdict.json"


@dataclass
class ReleaseResult:
    directory: Path
    manifest: dict[str, Any]
    record: ReleaseRecord


# ------------------------------------------------------------------ keys
def signing_key(vault: Vault, root: Path) -> Ed25519PrivateKey:
    """The workspace's release key (created, stored in the vault and published under ``root``
    on first use)."""
    if vault.exists(KEY_NAME):
        key = Ed25519PrivateKey.from_private_bytes(vault.get(KEY_NAME))
    else:
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        vault.put(KEY_NAME, raw, kind="key", schema="ed25519-private-raw")
    pub = public_pem(key.public_key())
    path = Path(root) / PUBKEY_FILE
    if not path.is_file() or path.read_bytes() != pub:
        atomic_write_text(path, pub.decode())
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InputError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the public key is not an Ed25519 key")
    return key


# ------------------------------------------------------------------ the gate
def latest_audit(store: MetadataStore, name: str) -> Audit | None:
    with store.session() as s:
        return s.scalars(select(Audit).where(Audit.model_name == name)
                         .order_by(Audit.created_at.desc()).limit(1)).first()


def check_releasable(site: GateSite, model_ref: str, current_sha256: str | None = None) -> Audit:
    """The audit that allows releasing ``model_ref``, or :class:`PrivacyPolicyError`."""
    m = site.vault.manifest(model_ref)
    _, record = adapter_record(site.vault, m.ref)
    if insecure_randomness(record.privacy):
        raise PrivacyPolicyError(
            f"'{m.ref}' was trained with dp.insecure_reproducible: its sampling and noise came "
            "from a seed anyone with the config can replay, so it is not private; retrain "
            "without it to release")
    audit = latest_audit(site.store, m.name)
    if audit is None:
        raise PrivacyPolicyError(f"'{m.ref}' has never been audited; run: privtune audit {m.ref}")
    if audit.model_ref != m.ref:
        raise PrivacyPolicyError(
            f"the latest audit of '{m.name}' ({audit.id}) is of '{audit.model_ref}', which "
            f"predates '{m.ref}': the audit is stale; run: privtune audit {m.ref}")
    if _naive(audit.created_at) < _naive(m.created_at):
        raise PrivacyPolicyError(f"the latest audit of '{m.ref}' ({audit.id}) predates the model; "
                                 f"run: privtune audit {m.ref}")
    if current_sha256 is not None and current_sha256 != audit.model_sha256:
        raise PrivacyPolicyError(f"'{m.ref}' is not the adapter that audit {audit.id} measured "
                                 "(hash differs): the audit is stale")
    if record.base_model_sha256 != audit.base_sha256:
        raise PrivacyPolicyError(f"the base model of '{m.ref}' changed since audit {audit.id}")
    if not audit.passed:
        failed = ", ".join((audit.verdict or {}).get("failed", [])) or "see the report"
        raise PrivacyPolicyError(f"the latest audit of '{m.ref}' ({audit.id}) failed the privacy "
                                 f"gate: {failed}; report: {audit.report}")
    return audit


def _naive(ts: Any) -> Any:
    return ts.replace(tzinfo=None) if getattr(ts, "tzinfo", None) else ts


def release(site: GateSite, model_ref: str, dest: Path | None = None) -> ReleaseResult:
    """Check the gate, then write the signed release directory (built aside, renamed in)."""
    m = site.vault.manifest(model_ref)
    with private_tempdir("release") as tmp:
        adir = site.vault.get_dir(m.ref, tmp / "adapter")
        sha = adapter_hash(adir)
        audit = check_releasable(site, m.ref, sha)
        verdict_bytes = canonical(audit.verdict)
        if digest(audit.verdict) != audit.verdict_sha256:
            raise IntegrityError(f"the stored verdict of audit {audit.id} does not match its hash")
        privacy = (audit.verdict.get("details") or {}).get("privacy") or {}
        dp = bool(privacy.get("dp") or privacy.get("enabled"))
        key = signing_key(site.vault, site.root)
        out = Path(dest) if dest is not None else Path(site.root) / RELEASES_DIR / m.ref.replace("@", "-v")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InputError("the release directory exists and is not empty", path=out)
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir(parents=True)
            for name in ADAPTER_FILES:
                shutil.copyfile(adir / name, partial / name)
            atomic_write(partial / VERDICT, verdict_bytes, mode=0o644)
            rec = ReleaseRecord(
                model_ref=m.ref,
                adapter_sha256=sha,
                files={name: file_sha256(partial / name) for name in ADAPTER_FILES},
                base_sha256=audit.base_sha256,
                audit_id=audit.id,
                audit_sha256=audit.verdict_sha256,
                audit_passed=True,
                dp=dp,
                epsilon=privacy.get("epsilon") if dp else None,
                delta=privacy.get("delta") if dp else None,
                released_at=utcnow().isoformat(timespec="seconds"),
                public_key=base64.b64encode(key.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode(),
            )
            doc = rec.to_dict()
            body = canonical(doc)
            atomic_write(partial / MANIFEST, body, mode=0o644)
            atomic_write(partial / SIGNATURE, base64.b64encode(key.sign(body)) + b"\n", mode=0o644)
            if out.exists():
                out.rmdir()
            out.parent.mkdir(parents=True, exist_ok=True)
            partial.rename(out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return ReleaseResult(out, doc, rec)


def verify_release(directory: Path, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The release manifest, after checking its signature and every file's hash."""
    d = Path(directory)
    if not d.is_dir():
        raise NotFoundError(f"no release directory at {d}")
    for name in (MANIFEST, SIGNATURE, VERDICT, *ADAPTER_FILES):
        if not (d / name).is_file():
            raise IntegrityError(f"{d}: release file {name} is missing")
    body = (d / MANIFEST).read_bytes()
    try:
        signature = base64.b64decode((d / SIGNATURE).read_bytes().strip(), validate=True)
        public_key.verify(signature, body)
    except (InvalidSignature, ValueError):
        raise IntegrityError(f"{d}: the release signature does not verify (tampered manifest, "
                             "or signed by another key)") from None
    doc = json.loads(body)
    rec = ReleaseRecord.from_dict(doc)
    for name, want in rec.files.items():
        if file_sha256(d / name) != want:
            raise IntegrityError(f"{d / name}: does not match the signed hash (tampered)")
    if adapter_hash(d) != rec.adapter_sha256:
        raise IntegrityError(f"{d}: the adapter does not match the signed adapter hash")
    verdict = json.loads((d / VERDICT).read_bytes())
    if digest(verdict) != rec.audit_sha256 or not verdict.get("passed"):
        raise IntegrityError(f"{d / VERDICT}: does not match the signed audit hash")
    return doc
