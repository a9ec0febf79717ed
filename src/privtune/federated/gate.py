"""The federation's gate, outside Flower: the global adapter's record at the coordinator, a
site's audit of it, and the coordinator collecting the verdicts (docs/federated.md).

* :func:`global_record` - the :class:`~privtune.records.AdapterRecord` the coordinator stores
  with every global adapter: the run's DP figures (unit- and person-level epsilon), the
  federation block (run, round, the roster version whose sites must all pass) and no training
  set of its own (the people are at the sites).
* :func:`site_gate` - what a site runs on the global adapter (``federated.gate``): the adapter
  bytes it was sent are checked against the coordinator's hash and stored in the site's own
  vault with a record naming the site's own training and validation sets (its members and
  held-out employees), audited by :func:`privtune.gate.audit.run_audit` (what ``privtune
  audit`` runs) under the site's workspace policy, and only the signed site verdict comes back
  (:func:`privtune.gate.federation.site_verdict`).
* :func:`collect` - the coordinator: the request (adapter hash, fresh nonce), the adapter's
  files, and :func:`privtune.gate.federation.record_federated_verdict` on what the sites
  returned. The release is then the ordinary ``privtune release`` (it re-checks every
  verdict, :func:`privtune.gate.federation.federated_problems`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from privtune.attacks.spec import AuditSpec
from privtune.errors import IntegrityError, WorkspaceError
from privtune.federated.plan import FederatedSpec
from privtune.gate.hashing import ADAPTER_FILES, adapter_hash
from privtune.records import AdapterRecord
from privtune.train.spec import LoraSpec, TrainSpec

#: The vault name a site stores the global adapter under (one version per gate request).
SITE_ADAPTER = "federated-adapter"


def global_record(spec: FederatedSpec, lora: LoraSpec, sigma: float, base_dir: Path,
                  base_sha256: str, rnd: int, run_id: str, roster: str, units: int,
                  metrics: dict[str, Any]) -> AdapterRecord:
    """The record of the global adapter after round ``rnd``."""
    train = TrainSpec(steps=rnd, lr=spec.server_lr, max_seq_len=spec.max_seq_len, lora=lora,
                      warmup_steps=0, max_grad_norm=spec.max_grad_norm, device="cpu")
    privacy = {"dp": True, "federated": True, "rounds": rnd, "noise_multiplier": sigma,
               "max_grad_norm": spec.max_grad_norm, "sampling_rate": spec.sampling_rate,
               "delta": spec.delta, "accountant": spec.accountant, "unit": "employee",
               "epsilon": round(spec.epsilon_after(rnd, sigma), 4),
               "epsilon_person": round(spec.person_epsilon(rnd, sigma), 4),
               "max_examples_per_unit": spec.max_examples_per_unit,
               "units": units, "secagg": spec.secagg, "private": True,
               "federation": {"run": run_id, "round": rnd, "roster": roster,
                              "max_sites_per_person": spec.max_sites_per_person}}
    return AdapterRecord(train=train.model_dump(mode="json"), train_data="", val_data="",
                         base_model=str(base_dir), base_model_sha256=base_sha256,
                         privacy=privacy, metrics=metrics, checkpoints=[])


def store_global(ws: Any, name: str, model: Any, spec: FederatedSpec, lora: LoraSpec,
                 sigma: float, base_dir: Path, rnd: int, run_id: str, units: int) -> str:
    """Store the global adapter after round ``rnd`` in the coordinator's vault
    (``federated.coordinate``), its record naming the roster in force; returns its ref."""
    from privtune.gate.federation import ROSTER
    from privtune.models.loading import model_dir_hash
    from privtune.tmp import private_tempdir

    ws.access.check("federated.coordinate", name, action="store", round=rnd)
    roster = ws.vault.resolve(ROSTER) if ws.vault.exists(ROSTER) else ""
    record = global_record(spec, lora, sigma, base_dir, model_dir_hash(base_dir), rnd, run_id,
                           roster, units, {"round": rnd})
    with private_tempdir("fedadapter") as tmp:
        model.save_pretrained(str(tmp / "adapter"))
        return str(ws.vault.put_dir(name, tmp / "adapter", kind="adapter", schema="peft-lora",
                                    meta=record.to_dict()))


def adapter_files(vault: Any, ref: str) -> dict[str, bytes]:
    """The adapter's files (what a site audits), from the coordinator's vault."""
    from privtune.tmp import private_tempdir

    with private_tempdir("fedgate") as tmp:
        d = vault.get_dir(ref, tmp / "adapter")
        return {name: (d / name).read_bytes() for name in ADAPTER_FILES}


def site_gate(workspace: Path, name: str, request: dict[str, Any], files: dict[str, bytes],
              base_dir: Path, audit: AuditSpec | None = None, *, dataset: str = "trainset",
              valset: str = "valset", api_key: str | None = None) -> dict[str, Any]:
    """Audit the global adapter at site ``name`` and return its signed verdict."""
    from privtune.access.apikeys import ENV_API_KEY
    from privtune.dp.units import build_units
    from privtune.gate.adapters import adapter_record
    from privtune.gate.audit import run_audit
    from privtune.gate.federation import site_verdict
    from privtune.io import read_jsonl
    from privtune.models.loading import model_dir_hash
    from privtune.pipeline.site import gate_site
    from privtune.tmp import private_tempdir
    from privtune.workspace import Workspace

    if set(files) != set(ADAPTER_FILES):
        raise IntegrityError("the coordinator sent another set of adapter files than an "
                             "adapter's")
    api_key = api_key or os.environ.get(ENV_API_KEY) or None
    with Workspace.open(workspace, api_key=api_key) as ws, \
            ws.access.acting_for("federated.gate", str(request.get("model_ref", ""))[:160],
                                 run=str(request.get("run", ""))[:64]), \
            private_tempdir("fedgate") as tmp:
        d = tmp / "adapter"
        d.mkdir()
        for fname, data in files.items():
            (d / fname).write_bytes(data)
        if adapter_hash(d) != request.get("adapter_sha256"):
            raise IntegrityError("the adapter received is not the one the coordinator names "
                                 "(hash differs)")
        base_sha = model_dir_hash(base_dir)
        if base_sha != request.get("base_sha256"):
            raise WorkspaceError("this site's base model is not the federation's (hash differs)")
        coord = _coordinator_privacy(request)
        train_ref, val_ref = ws.vault.resolve(dataset), ws.vault.resolve(valset)
        train = read_jsonl(ws.vault, train_ref)
        units = build_units([ex.get("employee_ids") or [] for ex in train], "employee", "drop",
                            [ex.get("mentions") or [] for ex in train])
        privacy = dict(coord)
        # the site's own population: the expected batch of its references and its delta bound
        privacy.update(units=len(units),
                       expected_batch_size=max(1, round(float(coord["sampling_rate"]) * len(units))))
        record = AdapterRecord(train=dict(request["train"]), train_data=train_ref,
                               val_data=val_ref, base_model=str(base_dir),
                               base_model_sha256=base_sha, privacy=privacy, metrics={},
                               checkpoints=[])
        ref = ws.vault.put_dir(SITE_ADAPTER, d, kind="adapter", schema="peft-lora",
                               meta=record.to_dict())
        site = gate_site(ws)
        out = run_audit(site, ref, audit or AuditSpec())
        _, stored = adapter_record(ws.vault, ref)
        return site_verdict(site, name, request, out.verdict, stored)


def _coordinator_privacy(request: dict[str, Any]) -> dict[str, Any]:
    p = request.get("privacy")
    if not isinstance(p, dict) or not p.get("federated"):
        raise IntegrityError("the gate request carries no federated privacy record")
    return dict(p)


def gate_request(coordinator: Any, ref: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(request, files)`` for every site: the adapter's hash, base hash, run, a fresh nonce,
    the run's privacy record and train recipe (so a site's references are trained with the
    target's recipe), and the adapter's files."""
    from privtune.gate.adapters import adapter_record
    from privtune.gate.federation import gate_request as base_request

    req = base_request(coordinator, ref)
    _, record = adapter_record(coordinator.vault, req["model_ref"])
    req.update(privacy=dict(record.privacy), train=dict(record.train))
    return req, adapter_files(coordinator.vault, req["model_ref"])


def collect(coordinator: Any, ref: str,
            ask: Callable[[dict[str, Any], dict[str, bytes]], dict[str, Any]]
            ) -> tuple[str, dict[str, Any]]:
    """Ask every site (``ask(request, files) -> {site: signed verdict}``) and record the
    federated verdict at the coordinator; ``coordinator`` is its GateSite."""
    from privtune.gate.federation import record_federated_verdict

    request, files = gate_request(coordinator, ref)  # checks federated.coordinate
    verdicts = ask(request, files)
    return record_federated_verdict(coordinator, request, verdicts)
