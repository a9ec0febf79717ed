"""Flower's ServerApp and ClientApps for privtune (imports ``flwr``: Flower's environment only).

Run them through Flower's deployment engine (``privtune federated simulate`` starts a real
SuperLink and SuperNodes; docs/federated.md). The apps are thin: the privacy work is privtune's
(:mod:`~privtune.federated.site`, :mod:`~privtune.federated.server`).

* :data:`server_app` - builds the initial adapter from the base model, then runs Flower's
  ``DefaultWorkflow`` through the legacy ``LegacyContext`` API with :class:`PrivateSum` as the
  strategy: its ``aggregate_fit`` recovers the **sum** of the sites' clipped sums (every site
  reports ``num_examples = 1``, so Flower's weighted mean times the number of sites is the
  sum, also when SecAgg+ reveals only the mean of the masked vectors), adds the noise once
  and steps the global adapter (:class:`~privtune.federated.server.GlobalAdapter`). With
  ``secagg`` the fit workflow is ``SecAggPlusWorkflow`` (the SecAgg+ protocol, Bell et al.
  2020): the coordinator sees no single site's update; sites that drop after sharing their
  keys are recovered from ``reconstruction-threshold`` shares and the round completes. After
  every round the global adapter is stored in the coordinator's vault (``federated.coordinate``)
  with its :class:`~privtune.records.AdapterRecord` (:func:`~privtune.federated.gate.global_record`).
  With ``gate-audit`` in the run config, after the last round every site is sent the final
  adapter in a ``query`` message and audits it (:func:`gate_mod`); the signed verdicts that
  come back are recorded as the adapter's federated verdict
  (:func:`~privtune.federated.gate.collect`), which ``privtune release`` then requires.
* :data:`client_app` / :data:`client_app_secagg` - a site: ``fit`` runs
  :func:`~privtune.federated.site.site_round` on the workspace named in the SuperNode's
  ``--node-config`` (``workspace``, ``dataset``) and returns the clipped sum with
  ``num_examples = 1`` and only the site's unit count as a metric. ``client_app_secagg`` adds
  Flower's ``secaggplus_mod``. With ``record-dir`` in the node config, :func:`recording_mod`
  (outermost) writes every message the ClientApp sends, as the SuperNode forwards it.
  :func:`gate_mod` answers the coordinator's gate query with the site's signed verdict
  (:func:`~privtune.federated.gate.site_gate`): nothing else leaves.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import (
    ConfigRecord,
    Context,
    FitIns,
    Message,
    MessageType,
    RecordDict,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from privtune.federated.plan import FederatedSpec
from privtune.train.spec import LoraSpec

# torch, transformers and the workspace are imported where a round needs them, not at import:
# every SecAgg+ stage starts a fresh ClientApp process, and only the training stage trains.


def _spec(cfg: dict[str, Any]) -> FederatedSpec:
    return FederatedSpec.model_validate(json.loads(str(cfg["spec"])))


def _lora(cfg: dict[str, Any]) -> LoraSpec:
    return LoraSpec.model_validate(json.loads(str(cfg["lora"])))


# ----------------------------------------------------------------------------- server


class PrivateSum(FedAvg):
    """FedAvg's plumbing; ``configure_fit`` holds the round deadline, ``aggregate_fit`` turns
    the sites' clipped sums into one noisy step.

    ``configure_fit`` (also what SecAgg+'s set-up stage asks) waits for the ``n_sites`` sites at
    most ``round_timeout_s``, then sends the round to every site present if they are at least
    :meth:`~privtune.federated.plan.FederatedSpec.required_sites`; else it calls ``on_stop``
    and raises :class:`~privtune.errors.SitesMissing` naming the missing sites (``names``:
    node id -> site name, from the coordinator's registration of the sites' keys). Flower's own
    sampling would wait a day for all of them."""

    def __init__(self, adapter: Any, spec: FederatedSpec, on_round: Any,
                 n_sites: int, names: dict[int, str] | None = None, on_stop: Any = None,
                 **kw: Any) -> None:
        super().__init__(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n_sites,
                         min_evaluate_clients=0, min_available_clients=n_sites,
                         accept_failures=True,
                         initial_parameters=ndarrays_to_parameters(adapter.arrays()),
                         on_fit_config_fn=lambda rnd: {"round": rnd}, **kw)
        self.adapter, self.spec, self.on_round = adapter, spec, on_round
        self.n_sites, self.names, self.on_stop = n_sites, dict(names or {}), on_stop

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> Any:
        from privtune.errors import SitesMissing

        client_manager.wait_for(self.n_sites, timeout=self.spec.round_timeout_s)
        present = list(client_manager.all().values())
        need = self.spec.required_sites()
        if len(present) < need:
            ids = {int(p.node_id) for p in present}
            missing = sorted(n for nid, n in self.names.items() if nid not in ids)
            what = (", ".join(missing) if missing
                    else f"{self.n_sites - len(present)} unnamed site(s)")
            if self.on_stop is not None:
                self.on_stop(server_round, missing, len(present), need)
            raise SitesMissing(f"round {server_round}: {len(present)} of {self.n_sites} sites "
                               f"connected within round_timeout_s={self.spec.round_timeout_s:g} "
                               f"s, {need} needed (min_sites); missing: {what}",
                               missing=missing, rnd=server_round)
        ins = FitIns(parameters, {"round": server_round})
        return [(p, ins) for p in present]

    def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
        if not results:
            return None, {}
        mean = parameters_to_ndarrays(results[0][1].parameters) if len(results) == 1 else None
        if mean is None:
            weighted = [(parameters_to_ndarrays(r.parameters), r.num_examples) for _, r in results]
            total = sum(n for _, n in weighted)
            mean = [sum(a[i] * n for a, n in weighted) / total for i in range(len(weighted[0][0]))]
        summed = [np.asarray(m, dtype=np.float32) * len(results) for m in mean]
        # the noise is sigma C whatever the number of sites; the divisor holds the units of the
        # sites that took part (post-processing: docs/federated.md, "Dropouts")
        units = sum(int(r.metrics.get("units", 0)) for _, r in results)
        norm = self.adapter.step(summed, self.spec.sampling_rate * units)
        self.on_round(server_round, len(results), len(failures), units, norm)
        return ndarrays_to_parameters(self.adapter.arrays()), {"sites": len(results),
                                                                "units": units}


server_app = ServerApp()


@server_app.main()
def _server_main(grid: Grid, context: Context) -> None:
    from privtune.federated.server import GlobalAdapter, build_lora_model, get_arrays, set_arrays

    cfg = dict(context.run_config)
    spec, lora = _spec(cfg), _lora(cfg)
    sigma = float(cfg["sigma"])
    base = Path(str(cfg["base-dir"]))
    model, _tok = build_lora_model(base, lora, seed=int(cfg.get("init-seed", 0)))
    adapter = GlobalAdapter(get_arrays(model), sigma * spec.max_grad_norm, spec.server_lr)
    results_file = Path(str(cfg["results-file"]))
    rounds: list[dict[str, Any]] = []
    t_round = [time.perf_counter()]

    def on_round(rnd: int, sites: int, failures: int, units: int, norm: float) -> None:
        set_arrays(model, adapter.arrays())
        ref = _store_adapter(model, cfg, spec, sigma, rnd, units)
        now = time.perf_counter()
        rounds.append({"round": rnd, "sites": sites, "failures": failures, "units": units,
                       "grad_norm": round(norm, 6), "seconds": round(now - t_round[0], 3),
                       "adapter": ref})
        t_round[0] = now
        results_file.write_text(json.dumps({"rounds": rounds, "sigma": sigma}, indent=2))

    def on_stop(rnd: int, missing: list[str], present: int, need: int) -> None:
        results_file.write_text(json.dumps({"rounds": rounds, "sigma": sigma, "stopped": {
            "round": rnd, "missing": missing, "present": present, "required": need,
            "sites": n_sites, "round_timeout_s": spec.round_timeout_s}}, indent=2))

    n_sites = int(cfg["sites"])
    names = {int(k): str(v) for k, v in json.loads(str(cfg.get("site-nodes") or "{}")).items()}
    strategy = PrivateSum(adapter, spec, on_round, n_sites, names, on_stop)
    legacy = LegacyContext(context=context,
                           config=ServerConfig(num_rounds=spec.rounds,
                                               round_timeout=spec.round_timeout_s),
                           strategy=strategy)
    if spec.secagg:
        # num_shares 1.0: every site of the round holds a share (as many as the sites present)
        fit = SecAggPlusWorkflow(num_shares=1.0,
                                 reconstruction_threshold=spec.reconstruction_threshold,
                                 clipping_range=spec.clipping_range, max_weight=1.0,
                                 timeout=spec.round_timeout_s)
        workflow = DefaultWorkflow(fit_workflow=fit)
    else:
        workflow = DefaultWorkflow()
    workflow(grid, legacy)
    if cfg.get("gate-audit") and rounds and rounds[-1]["adapter"]:
        gate = _gate(grid, cfg, str(rounds[-1]["adapter"]))
        results_file.write_text(json.dumps({"rounds": rounds, "sigma": sigma, "gate": gate},
                                           indent=2))


GATE = "privtune-gate"


def _gate(grid: Grid, cfg: dict[str, Any], ref: str) -> dict[str, Any]:
    """Every site audits ``ref``; their signed verdicts are recorded at the coordinator."""
    from privtune.access.apikeys import ENV_API_KEY
    from privtune.federated.gate import collect
    from privtune.pipeline.site import gate_site
    from privtune.workspace import Workspace

    timeout = float(cfg.get("gate-timeout", 1800))

    def ask(request: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        content = RecordDict({GATE: ConfigRecord({
            "request": json.dumps(request), "audit": str(cfg["gate-audit"]),
            **{f"file:{k}": v for k, v in files.items()}})})
        msgs = [Message(content, node, MessageType.QUERY, group_id="gate")
                for node in grid.get_node_ids()]
        out: dict[str, Any] = {}
        for reply in grid.send_and_receive(msgs, timeout=timeout):
            if reply.has_content() and GATE in reply.content.config_records:
                rec = reply.content.config_records[GATE]
                try:
                    out[str(rec["site"])] = json.loads(str(rec["verdict"]))
                except (KeyError, ValueError):
                    continue
        return out

    key = os.environ.get(ENV_API_KEY) or None
    with Workspace.open(Path(str(cfg["coordinator-workspace"])), api_key=key) as ws:
        audit_id, verdict = collect(gate_site(ws), ref, ask)
    return {"audit_id": audit_id, "passed": verdict["passed"], "failed": verdict["failed"],
            "problems": verdict["problems"], "model_ref": ref,
            "sites": {n: {k: v["verdict"].get(k) for k in ("passed", "failed", "metrics",
                                                            "policy_sha256")}
                      for n, v in verdict["sites"].items()}}


def _store_adapter(model: Any, cfg: dict[str, Any], spec: FederatedSpec, sigma: float,
                   rnd: int, units: int) -> str:
    """The global adapter after round ``rnd`` into the coordinator's vault."""
    from privtune.federated.gate import store_global
    from privtune.workspace import Workspace

    coord = cfg.get("coordinator-workspace")
    if not coord:
        return ""
    from privtune.access.apikeys import ENV_API_KEY

    key = os.environ.get(ENV_API_KEY) or None
    with Workspace.open(Path(str(coord)), api_key=key) as ws:
        return store_global(ws, str(cfg["adapter-name"]), model, spec, _lora(cfg), sigma,
                            Path(str(cfg["base-dir"])), rnd, str(cfg["run-id"]), units)


# ----------------------------------------------------------------------------- sites


class SiteClient(NumPyClient):
    def __init__(self, context: Context) -> None:
        self.context = context

    def fit(self, parameters: Any, config: Any) -> Any:
        from privtune.federated.site import site_round

        cfg = dict(self.context.run_config)
        node = dict(self.context.node_config)
        spec = _spec(cfg)
        up = site_round(Path(str(node["workspace"])), str(node["dataset"]),
                        Path(str(cfg["base-dir"])), _lora(cfg), spec,
                        [np.asarray(p) for p in parameters], int(config["round"]),
                        str(cfg["run-id"]), float(cfg["sigma"]))
        if spec.secagg:  # SecAgg+ quantises into [-range, range]: refuse silent saturation
            peak = max(float(np.abs(a).max()) for a in up.arrays) if up.arrays else 0.0
            if peak > spec.clipping_range:
                up = type(up)([np.clip(a, -spec.clipping_range, spec.clipping_range)
                               for a in up.arrays], up.units, up.epsilon, up.admitted)
        return up.arrays, 1, {"units": up.units if up.admitted else 0}


def recording_mod(msg: Message, ctx: Context, call_next: Any) -> Message:
    """Write every reply of this ClientApp (what the SuperNode sends on) to ``record-dir``."""
    out = call_next(msg, ctx)
    rec = ctx.node_config.get("record-dir")
    if rec:
        d = Path(str(rec))
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        parts: list[bytes] = [repr(out.metadata).encode()]
        if out.has_content():
            for name, ar in out.content.array_records.items():
                parts.append(name.encode())
                parts += [a.data for a in ar.values()]
            for name, cr in out.content.config_records.items():
                parts.append(name.encode() + repr(dict(cr)).encode())
            for name, mr in out.content.metric_records.items():
                parts.append(name.encode() + repr(dict(mr)).encode())
        else:
            parts.append(repr(out.error).encode())
        path = d / f"{time.time_ns()}-{os.getpid()}.bin"
        path.write_bytes(b"\n--\n".join(parts))
    return out


def gate_mod(msg: Message, ctx: Context, call_next: Any) -> Message:
    """The coordinator's gate query: audit the adapter it sent at this site
    (:func:`~privtune.federated.gate.site_gate`) and reply with the signed verdict only."""
    if (msg.metadata.message_type != MessageType.QUERY or not msg.has_content()
            or GATE not in msg.content.config_records):
        return call_next(msg, ctx)
    from privtune.attacks.spec import AuditSpec
    from privtune.federated.gate import site_gate

    rec = msg.content.config_records[GATE]
    node, cfg = dict(ctx.node_config), dict(ctx.run_config)
    request = json.loads(str(rec["request"]))
    files = {k.split(":", 1)[1]: bytes(v) for k, v in rec.items() if k.startswith("file:")}
    signed = site_gate(Path(str(node["workspace"])), str(node["site"]), request, files,
                       Path(str(cfg["base-dir"])), AuditSpec.model_validate_json(str(rec["audit"])),
                       dataset=str(node["dataset"]))
    return Message(RecordDict({GATE: ConfigRecord({"site": str(node["site"]),
                                                   "verdict": json.dumps(signed)})}),
                   reply_to=msg)


def _client_fn(context: Context) -> Any:
    return SiteClient(context).to_client()


client_app = ClientApp(client_fn=_client_fn, mods=[recording_mod, gate_mod])
client_app_secagg = ClientApp(client_fn=_client_fn,
                              mods=[recording_mod, gate_mod, secaggplus_mod])
