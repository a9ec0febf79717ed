"""Stages ``release`` and ``verify``: the signed release of the adapter that passed its privacy
audit under the workspace policy (:func:`privtune.gate.release.release`), then the check a
receiver makes (signature by the workspace's public key, every file's hash, the release
registry), so that ``privtune run`` ends on a model that is released *and* verified."""

from __future__ import annotations

import time
from pathlib import Path

from privtune.gate.registry import check_registered
from privtune.gate.release import PUBKEY_FILE, ReleaseResult, load_public_key, release, verify_release
from privtune.gate.site import GateSite
from privtune.pipeline.result import StageResult


def release_stage(site: GateSite, model_ref: str, dest: Path | None = None
                  ) -> StageResult[ReleaseResult]:
    t0 = time.perf_counter()
    res = release(site, model_ref, dest)
    m = res.manifest
    figures = {"release": res.release_id, "directory": str(Path(res.directory).resolve()),
               "model": m["model_ref"], "adapter_sha256": m["adapter_sha256"],
               "audit": m["audit_id"], "signer": m["signer_key_id"],
               "epsilon": m["epsilon"] if m["dp"] else None,
               "public_key": str((site.root / PUBKEY_FILE).resolve())}
    return StageResult("release", res, figures=figures, seconds=time.perf_counter() - t0)


def verify_stage(site: GateSite, released: ReleaseResult) -> StageResult[None]:
    t0 = time.perf_counter()
    site.check("model.read", "releases", action="verify")
    key = load_public_key((site.root / PUBKEY_FILE).read_bytes())
    doc = verify_release(Path(released.directory), key)
    row = check_registered(site, doc.get("release_id", ""), doc["model_ref"])
    figures = {"verified": True, "model": doc["model_ref"], "release": row.id,
               "registry_state": row.state}
    return StageResult("verify", None, figures=figures, seconds=time.perf_counter() - t0)
