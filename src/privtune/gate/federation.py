"""The gate of a federated adapter: every site's signed verdict, and the coordinator's release.

A federation's global adapter is trained on people the coordinator never sees, so the
coordinator cannot audit it. Each site audits it where its people are
(:func:`privtune.gate.audit.run_audit` on its own members and held-out employees, judged by its
own workspace policy, whose minimum strength and the site's privacy budgets it also checks) and
returns only a **site verdict**: pass/fail, the failed metric names and one figure per metric
(AUCs, exposures, counts; nothing per person), bound to the adapter's hash, the coordinator's
model ref, the federation run and the coordinator's one-time nonce, signed with the site's
Ed25519 **verdict key** (vault object ``federation-verdict-key``, public half
``<workspace>/federation-verdict-key.pub``). The coordinator pins each site's public key in its
**roster** (vault object ``federation-roster``, changed only under ``policy.write``: the
people who may release decide whose verdicts count); the global adapter's record names the
roster version it was trained under.

Why signatures rather than the authenticated Flower channel: the verdicts are evidence kept
with the release (``verdict.json`` of the release bundle, hashed into the signed
``release.json``); a signature can be checked again at every release and by anyone later,
whereas the channel's authentication (the SuperNode's key, checked by the SuperLink) ends at
the SuperLink and leaves nothing the release could check. The verdict key is not the release
key: a site's verdict is not a release of the site's, and domain separation
(:data:`DOMAIN`) keeps the two signatures apart.

:func:`record_federated_verdict` (``federated.coordinate``) checks every verdict and records one
audit of the global adapter holding all of them; :func:`federated_problems` is what
:func:`privtune.gate.release.release` asks of a federated adapter: the latest audit is such a
federated verdict, every site of the roster returned a verdict, each verifies against its
pinned key, binds this very adapter and nonce, and passed. A site whose gate failed, a missing
site, an unsigned or re-signed verdict, or a local audit in place of the sites' refuses the
release.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature

from privtune.errors import InputError, IntegrityError, NotFoundError
from privtune.gate.site import GateSite
from privtune.gate.verdict import canonical, digest
from privtune.records import AdapterRecord
from privtune.store.models import Audit, utcnow

SITE_SCHEMA = "privtune-federated-site-verdict/1"
FEDERATED_SCHEMA = "privtune-federated-verdict/1"
ROSTER = "federation-roster"
ROSTER_SCHEMA = "privtune-federation-roster/1"
VERDICT_KEY = "federation-verdict-key"
VERDICT_PUB = "federation-verdict-key.pub"
#: Prefixed to what a site signs, so that a verdict signature is never a valid signature of
#: anything else (a release manifest, another schema).
DOMAIN = b"privtune federated site verdict v1\x00"
#: The per-metric fields a site verdict carries (the verdict's rows, nothing else).
METRIC_FIELDS = ("name", "value", "threshold", "checked", "passed")


def new_nonce() -> str:
    return secrets.token_hex(16)


# ---------------------------------------------------------------------- the site's side
def site_verdict(site: GateSite, name: str, request: dict[str, Any], verdict: dict[str, Any],
                 record: AdapterRecord) -> dict[str, Any]:
    """The signed verdict of site ``name`` on the global adapter, from its own audit
    ``verdict`` (of the adapter as stored in the site's vault, ``record``) and the coordinator's
    ``request`` (``model_ref``, ``adapter_sha256``, ``base_sha256``, ``run``, ``nonce``). The
    site's own policy decides: the audit passed, was judged by the site's workspace policy,
    is as strong as its minimums, and the site's people are within their budgets."""
    from privtune.gate.release import _budget_problems, signing_key
    from privtune.gate.requirements import strength, strength_problems
    from privtune.gate.workspace_policy import workspace_policy

    model = verdict.get("model") or {}
    if model.get("adapter_sha256") != request.get("adapter_sha256"):
        raise IntegrityError("the adapter this site audited is not the one the coordinator "
                             "asked about (hash differs)")
    wp = workspace_policy(site.store)
    problems: list[str] = []
    if verdict.get("policy_sha256") != wp.sha256:
        problems.append("the audit was judged by another policy than this site's")
    problems += strength_problems(verdict, wp.policy)
    if wp.policy.epsilon is not None:
        problems += _budget_problems(site, record)
    failed = list(verdict.get("failed") or [])
    if problems:
        failed.append("site_policy")
    doc = {
        "schema": SITE_SCHEMA, "site": name,
        "run": str(request.get("run", "")), "nonce": str(request.get("nonce", "")),
        "model_ref": str(request.get("model_ref", "")),
        "adapter_sha256": model.get("adapter_sha256"), "base_sha256": model.get("base_sha256"),
        "passed": bool(verdict.get("passed")) and not problems, "failed": failed,
        "problems": problems,
        "metrics": [{k: r.get(k) for k in METRIC_FIELDS} for r in verdict.get("metrics") or []],
        "policy_sha256": wp.sha256, "policy_version": wp.version,
        "profile": verdict.get("profile"), "strength": strength(verdict),
        "site_audit_id": verdict.get("audit_id"), "site_audit_sha256": digest(verdict),
        "created_at": utcnow().isoformat(timespec="seconds"),
    }
    key = signing_key(site.vault, site.root, VERDICT_KEY, VERDICT_PUB)
    return {"verdict": doc, "signature": base64.b64encode(key.sign(DOMAIN + canonical(doc))).decode()}


def verify_site_verdict(signed: Any, public_pem: bytes) -> dict[str, Any]:
    """The verdict document, after checking its signature against the site's pinned key."""
    from privtune.gate.release import load_public_key

    if not isinstance(signed, dict) or not isinstance(signed.get("verdict"), dict):
        raise IntegrityError("not a signed site verdict")
    doc = signed["verdict"]
    try:
        sig = base64.b64decode(str(signed.get("signature", "")), validate=True)
        load_public_key(public_pem).verify(sig, DOMAIN + canonical(doc))
    except (InvalidSignature, ValueError):
        raise IntegrityError(f"the verdict of site '{doc.get('site')}' does not verify against "
                             "its pinned key (unsigned, altered, or signed by another key)"
                             ) from None
    if doc.get("schema") != SITE_SCHEMA:
        raise IntegrityError("the site verdict has an unknown schema")
    return doc


# ---------------------------------------------------------------------- the roster
def set_roster(site: GateSite, keys: dict[str, bytes]) -> str:
    """Pin each site's verdict public key (PEM) in the coordinator's vault (``policy.write``:
    who may release decides whose verdicts count); returns the roster's ref. The roster replaces
    the previous version whole (:func:`pin_site` / :func:`unpin_site` change one site)."""
    from privtune.gate.release import load_public_key

    site.check("policy.write", ROSTER, sites=len(keys))
    if not keys:
        raise InputError("a federation roster needs at least one site", field="sites")
    for name, pem in keys.items():
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise InputError("a site name is letters, digits, '-' and '_'", field="sites")
        load_public_key(pem)
    body = json.dumps({"schema": ROSTER_SCHEMA,
                       "sites": {n: keys[n].decode() for n in sorted(keys)}}, sort_keys=True)
    return site.vault.put(ROSTER, body.encode(), kind="roster", schema=ROSTER_SCHEMA)


def view_roster(site: GateSite) -> tuple[str | None, dict[str, bytes]]:
    """The roster in force (its newest version): ``(ref, {site: verdict public key PEM})``;
    ``(None, {})`` before the first :func:`set_roster`. Needs ``metadata.read`` (public keys)."""
    site.check("metadata.read", ROSTER, action="view")
    if not site.vault.exists(ROSTER):
        return None, {}
    ref = site.vault.resolve(ROSTER)
    return ref, read_roster(site, ref)


def pin_site(site: GateSite, name: str, pem: bytes) -> str:
    """Pin (or replace) site ``name``'s verdict public key in the roster (``policy.write``);
    returns the new roster's ref. Runs already trained keep the roster version they name."""
    site.check("policy.write", ROSTER, action="pin", site=name[:64])
    _, pins = view_roster(site)
    return set_roster(site, {**pins, name: pem})


def unpin_site(site: GateSite, name: str) -> str:
    """Remove site ``name`` from the roster (``policy.write``); returns the new roster's ref.
    The last site cannot be removed (a roster needs one)."""
    site.check("policy.write", ROSTER, action="unpin", site=name[:64])
    ref, pins = view_roster(site)
    if name not in pins:
        raise NotFoundError(f"site '{name}' is not in the federation roster"
                            + (f" ({ref})" if ref else " (no roster yet)"))
    rest = {n: k for n, k in pins.items() if n != name}
    if not rest:
        raise InputError(f"'{name}' is the roster's last site: a federation roster needs at "
                         "least one site", field="sites")
    return set_roster(site, rest)


def key_fingerprint(pem: bytes) -> str:
    """SHA-256 of the raw Ed25519 public key (hex): how a site and the coordinator compare a
    pinned key by phone or in writing."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    from privtune.gate.release import load_public_key

    raw = load_public_key(pem).public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def read_roster(site: GateSite, ref: str) -> dict[str, bytes]:
    """``{site: verdict public key PEM}`` of roster version ``ref``."""
    m = site.vault.manifest(ref)
    if m.name != ROSTER or m.schema != ROSTER_SCHEMA:
        raise IntegrityError(f"'{ref}' is not a federation roster")
    doc = json.loads(site.vault.get(m.ref))
    return {str(k): str(v).encode() for k, v in (doc.get("sites") or {}).items()}


def federation_of(record: AdapterRecord) -> dict[str, Any] | None:
    """The federation block of a global adapter's privacy record (None: not federated)."""
    fed = record.privacy.get("federation")
    return fed if record.privacy.get("federated") and isinstance(fed, dict) else None


# ---------------------------------------------------------------------- the coordinator's side
def gate_request(site: GateSite, model_ref: str, nonce: str | None = None) -> dict[str, Any]:
    """What the coordinator asks every site to audit: the adapter (ref, hash, base hash), the
    federation run and a fresh nonce."""
    from privtune.gate.adapters import adapter_record
    from privtune.gate.hashing import adapter_hash
    from privtune.tmp import private_tempdir

    site.check("federated.coordinate", model_ref[:160], action="gate-request")
    ref, record = adapter_record(site.vault, model_ref)
    fed = federation_of(record)
    if fed is None:
        raise InputError(f"'{ref}' is not a federated adapter")
    with private_tempdir("fedgate") as tmp:
        sha = adapter_hash(site.vault.get_dir(ref, tmp / "adapter"))
    return {"model_ref": ref, "adapter_sha256": sha, "base_sha256": record.base_model_sha256,
            "run": str(fed.get("run", "")), "nonce": nonce or new_nonce()}


def _site_problems(request: dict[str, Any], name: str, signed: Any, pem: bytes) -> list[str]:
    if signed is None:
        return [f"site '{name}' returned no verdict"]
    try:
        doc = verify_site_verdict(signed, pem)
    except IntegrityError as exc:
        return [str(exc)]
    out = []
    if doc.get("site") != name:
        out.append(f"the verdict signed with site '{name}''s key names site '{doc.get('site')}'")
    for key in ("model_ref", "adapter_sha256", "base_sha256", "run", "nonce"):
        if doc.get(key) != request.get(key):
            out.append(f"site '{name}''s verdict is about another {key.replace('_', ' ')} "
                       "(a verdict of another adapter or request)")
    if not doc.get("passed"):
        out.append(f"site '{name}''s gate failed: {', '.join(doc.get('failed') or []) or '?'}")
    return out


def _weakest(docs: list[dict[str, Any]]) -> dict[str, Any]:
    s = [d.get("strength") or {} for d in docs]
    profiles = {d.get("profile") for d in docs}
    return {"profile": "full" if profiles == {"full"} else "demo",
            "reference_models": min((int(x.get("reference_models") or 0) for x in s), default=0),
            "candidates": min((int(c) if isinstance(c := x.get("candidates"), int) else 0
                               for x in s), default=0),
            "subjects": min((int(x.get("subjects") or 0) for x in s), default=0)}


def record_federated_verdict(site: GateSite, request: dict[str, Any],
                             verdicts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check the sites' signed ``verdicts`` (``{site: signed verdict}``) on ``request`` and record
    one audit of the global adapter holding all of them (``federated.coordinate``); returns
    ``(audit id, federated verdict)``. It passes only when every site of the roster returned a
    valid verdict that passed; a failed one is recorded too (and blocks the release)."""
    from privtune.gate.adapters import adapter_record
    from privtune.gate.workspace_policy import workspace_policy

    site.check("federated.coordinate", str(request.get("model_ref", ""))[:160], action="gate",
               sites=len(verdicts))
    ref, record = adapter_record(site.vault, str(request["model_ref"]))
    fed = federation_of(record)
    if fed is None:
        raise InputError(f"'{ref}' is not a federated adapter")
    pins = read_roster(site, str(fed.get("roster", "")))
    problems: list[str] = []
    for name in sorted(pins):
        problems += _site_problems(request, name, verdicts.get(name), pins[name])
    for name in sorted(set(verdicts) - set(pins)):
        problems.append(f"'{name}' is not a site of roster {fed.get('roster')}: its verdict is "
                        "ignored")
    docs = [v["verdict"] for n, v in sorted(verdicts.items())
            if n in pins and isinstance(v, dict) and isinstance(v.get("verdict"), dict)]
    weakest = _weakest(docs)
    wp = workspace_policy(site.store)
    passed = not problems and len(docs) == len(pins)
    audit_id = f"audit-{utcnow().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    verdict: dict[str, Any] = {
        "schema": FEDERATED_SCHEMA, "audit_id": audit_id, "passed": passed,
        "failed": sorted({f"{d.get('site')}:{f}" for d in docs for f in d.get("failed") or []}
                         | ({"sites"} if problems and not any(d.get("failed") for d in docs)
                            else set())),
        "problems": problems, "request": request, "roster": fed.get("roster"),
        "sites": {n: verdicts[n] for n in sorted(verdicts) if n in pins},
        "model": {"ref": ref, "adapter_sha256": request["adapter_sha256"],
                  "base_sha256": record.base_model_sha256},
        "policy_sha256": wp.sha256, "profile": weakest["profile"],
        # the weakest site audit is the federation's strength (checked against the
        # coordinator's minimums at release, on top of each site's own)
        "settings": {"federated": True, "sites": len(pins)},
        "subjects_probed": {"membership": {"real_employees": weakest["subjects"]}},
        "details": {"privacy": dict(record.privacy),
                    "reference_models": {"count": weakest["reference_models"]},
                    "one_run": {"candidates": weakest["candidates"]}},
        "created_at": utcnow().isoformat(timespec="seconds"),
    }
    with site.store.session() as s:
        s.add(Audit(id=audit_id, model_name=ref.split("@")[0], model_ref=ref,
                    model_sha256=str(request["adapter_sha256"]),
                    base_sha256=record.base_model_sha256, passed=passed,
                    verdict_sha256=digest(verdict), verdict=verdict,
                    report=f"federated verdict of {len(pins)} sites"))
    return audit_id, verdict


def federated_problems(site: GateSite, record: AdapterRecord, audit: Audit) -> list[str]:
    """Why a federated adapter may not be released on ``audit`` (empty: it may): checked again
    at every release from the stored, hashed verdict and the pinned keys."""
    fed = federation_of(record)
    if fed is None:
        return []
    verdict = audit.verdict or {}
    if verdict.get("schema") != FEDERATED_SCHEMA:
        return [f"'{audit.model_ref}' is a federated adapter: it is released on every site's "
                "gate verdict (privtune federated gate), not on an audit run elsewhere"]
    try:
        pins = read_roster(site, str(fed.get("roster", "")))
    except (NotFoundError, IntegrityError, ValueError) as exc:
        return [f"the federation roster of '{audit.model_ref}' cannot be read: {exc}"]
    request = verdict.get("request") or {}
    out = []
    if request.get("model_ref") != audit.model_ref or request.get("adapter_sha256") != audit.model_sha256:
        out.append("the federated verdict is about another adapter")
    sites = verdict.get("sites") or {}
    for name in sorted(pins):
        out += _site_problems(request, name, sites.get(name), pins[name])
    return out
