"""``privtune release MODEL``: hand out an adapter only if its latest audit passed, and sign it.

Refusals (:class:`PrivacyPolicyError`, exit 8): the model was trained with
``dp.insecure_reproducible`` (seeded DP randomness: not private); the model was never audited; the latest audit
of its name is of another (older) version or predates the model; the adapter or its base
changed since the audit (hash differs); the latest audit failed; the audit was judged by
another policy than the workspace's, or is weaker than its minimums (reference models,
candidates, real employees probed, profile); the model does not meet the DP requirement
(non-DP, epsilon or delta too large, ``insecure_reproducible``); the model was revoked or
quarantined. A release is recorded in the release registry (:mod:`privtune.gate.registry`)
first; the bundle is written from the registry's record.

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
from privtune.gate.approval import second_approval_problem
from privtune.gate.hashing import ADAPTER_FILES, adapter_hash, file_sha256
from privtune.gate.registry import entry_for, new_release_id, record_of, register
from privtune.gate.requirements import dp_problems, insecure, is_dp, strength_problems
from privtune.gate.site import GateSite
from privtune.gate.verdict import canonical, digest
from privtune.gate.workspace_policy import WorkspacePolicy, workspace_policy
from privtune.records import AdapterRecord, ReleaseRecord, signer_key_id
from privtune.store.db import MetadataStore
from privtune.store.gate_models import ReleaseEntry
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
    release_id: str


# ------------------------------------------------------------------ keys
def signing_key(vault: Vault, root: Path, name: str = KEY_NAME,
                pub_file: str = PUBKEY_FILE) -> Ed25519PrivateKey:
    """The workspace's release key (created, stored in the vault and published under ``root``
    on first use); ``name`` / ``pub_file``: another Ed25519 key of the workspace kept the same
    way (a federation site's verdict key, :mod:`privtune.gate.federation`)."""
    if vault.exists(name):
        key = Ed25519PrivateKey.from_private_bytes(vault.get(name))
    else:
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        vault.put(name, raw, kind="key", schema="ed25519-private-raw")
    pub = public_pem(key.public_key())
    path = Path(root) / pub_file
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
    if insecure(record.privacy):
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


def check_against_policy(site: GateSite, model_ref: str, audit: Audit, record: AdapterRecord
                         ) -> WorkspacePolicy:
    """The workspace policy in force, after checking that ``audit`` was judged by it, is at least
    as strong as its minimums, and that the model meets its DP requirement; else
    :class:`PrivacyPolicyError` with every reason."""
    wp = workspace_policy(site.store)
    verdict = audit.verdict or {}
    problems = []
    if verdict.get("policy_sha256") != wp.sha256:
        problems.append(f"audit {audit.id} was judged by another gate policy than the "
                        f"workspace's (version {wp.version}, sha256 {wp.sha256[:12]}…); audit "
                        "again without --policy")
    problems += strength_problems(verdict, wp.policy)
    problems += dp_problems(dict(record.privacy), wp.policy)
    from privtune.gate.federation import federated_problems, federation_of

    if federation_of(record) is not None:
        # the people are at the sites: each site's gate checked their budgets in its ledger;
        # here every site's signed verdict must be present, valid and passed
        problems += federated_problems(site, record, audit)
    elif wp.policy.epsilon is not None:
        problems += _budget_problems(site, record)
    if problems:
        raise PrivacyPolicyError(f"'{model_ref}' may not be released: " + "; ".join(problems))
    return wp


def _budget_problems(site: GateSite, record: AdapterRecord) -> list[str]:
    """Why the people's cumulative epsilon (every DP run the ledger charged to the sources of
    the model's training set, or to sources sharing people with them) exceeds their budget."""
    from privtune.dp import ledger

    kw = {} if site.dp_budget_epsilon is None else {"default_budget": site.dp_budget_epsilon}
    out = []
    for sp in ledger.spent(site.check, site.store, record.train_data, **kw):
        if sp.epsilon > sp.budget + 1e-9:
            out.append(f"the people of '{sp.source}' have spent epsilon {sp.epsilon:.3g} over "
                       f"{sp.runs} DP runs, above their budget {sp.budget:g}")
    return out


def _key_id(key: Ed25519PrivateKey) -> tuple[str, str]:
    b64 = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    return b64, signer_key_id(b64)


def release(site: GateSite, model_ref: str, dest: Path | None = None) -> ReleaseResult:
    """Check the gate (``release.approve``; the latest audit passed, under the workspace policy,
    strong enough; the DP requirement), record the release in the registry, then write the
    signed bundle from the registry's record. A model already released gets its bundle written
    again from the same record; a revoked or quarantined one is refused."""
    m = site.vault.manifest(model_ref)
    existing = entry_for(site.store, m.ref)
    who = site.check("release.approve", m.ref, action="release",
                     release=existing.id if existing is not None else "")
    if existing is not None:
        if existing.state != "released":
            raise PrivacyPolicyError(f"'{m.ref}' was {existing.state} ({existing.id}): it is not "
                                     "released again")
        return write_bundle(site, existing, dest)
    _, adapter_rec = adapter_record(site.vault, m.ref)
    with private_tempdir("release") as tmp:
        adir = site.vault.get_dir(m.ref, tmp / "adapter")
        sha = adapter_hash(adir)
        files = {name: file_sha256(adir / name) for name in ADAPTER_FILES}
    audit = check_releasable(site, m.ref, sha)
    problem = second_approval_problem(site.store, site.release_approval, who.user_id, who.role,
                                      m.ref, audit.id)
    if problem:  # four-eyes (privtune.gate.approval)
        raise PrivacyPolicyError(problem)
    if digest(audit.verdict) != audit.verdict_sha256:
        raise IntegrityError(f"the stored verdict of audit {audit.id} does not match its hash")
    wp = check_against_policy(site, m.ref, audit, adapter_rec)
    privacy = (audit.verdict.get("details") or {}).get("privacy") or {}
    dp = is_dp(privacy)
    key = signing_key(site.vault, site.root)
    pub, key_id = _key_id(key)
    rec = ReleaseRecord(
        model_ref=m.ref, adapter_sha256=sha, files=files, base_sha256=audit.base_sha256,
        audit_id=audit.id, audit_sha256=audit.verdict_sha256, audit_passed=True, dp=dp,
        epsilon=privacy.get("epsilon") if dp else None,
        delta=privacy.get("delta") if dp else None,
        released_at=utcnow().isoformat(timespec="seconds"), public_key=pub,
        release_id=new_release_id(), policy_sha256=wp.sha256,
        profile=str(audit.verdict.get("profile")), signer_key_id=key_id)
    row = register(site.store, rec, who.user_id)
    return write_bundle(site, row, dest, key=key)


def write_bundle(site: GateSite, row: ReleaseEntry, dest: Path | None = None, *,
                 key: Ed25519PrivateKey | None = None) -> ReleaseResult:
    """Write the signed release directory of a ``released`` registry row (built aside, renamed
    in): the adapter (checked against the record's hashes), the verdict, ``release.json`` (the
    row's record) and its signature."""
    rec = record_of(row)
    if row.state != "released":
        raise PrivacyPolicyError(f"'{rec.model_ref}' was {row.state} ({row.id}): no bundle")
    with site.store.session() as s:
        audit = s.get(Audit, rec.audit_id)
    if audit is None or digest(audit.verdict) != rec.audit_sha256:
        raise IntegrityError(f"release {row.id}: the verdict of audit {rec.audit_id} is missing "
                             "or does not match the recorded hash")
    key = key or signing_key(site.vault, site.root)
    if _key_id(key)[1] != rec.signer_key_id:
        raise IntegrityError(f"release {row.id} was signed by key {rec.signer_key_id}, which is "
                             "not the workspace's release key")
    out = (Path(dest) if dest is not None
           else Path(site.root) / RELEASES_DIR / rec.model_ref.replace("@", "-v"))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("the release directory exists and is not empty", path=out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    doc = rec.to_dict()
    body = canonical(doc)
    try:
        with private_tempdir("release") as tmp:
            adir = site.vault.get_dir(rec.model_ref, tmp / "adapter")
            partial.mkdir(parents=True)
            for name in ADAPTER_FILES:
                shutil.copyfile(adir / name, partial / name)
        if ({n: file_sha256(partial / n) for n in ADAPTER_FILES} != rec.files
                or adapter_hash(partial) != rec.adapter_sha256):
            raise IntegrityError(f"'{rec.model_ref}' is not the adapter release {row.id} "
                                 "vouches for (hash differs)")
        atomic_write(partial / VERDICT, canonical(audit.verdict), mode=0o644)
        atomic_write(partial / MANIFEST, body, mode=0o644)
        atomic_write(partial / SIGNATURE, base64.b64encode(key.sign(body)) + b"\n", mode=0o644)
        if out.exists():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return ReleaseResult(out, doc, rec, row.id)


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
