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
  every round the global adapter is stored in the coordinator's vault (``federated.coordinate``).
* :data:`client_app` / :data:`client_app_secagg` - a site: ``fit`` runs
  :func:`~privtune.federated.site.site_round` on the workspace named in the SuperNode's
  ``--node-config`` (``workspace``, ``dataset``) and returns the clipped sum with
  ``num_examples = 1`` and only the site's unit count as a metric. ``client_app_secagg`` adds
  Flower's ``secaggplus_mod``. With ``record-dir`` in the node config, :func:`recording_mod`
  (outermost) writes every message the ClientApp sends, as the SuperNode forwards it.
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
from flwr.common import Context, Message, ndarrays_to_parameters, parameters_to_ndarrays
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
    """FedAvg's plumbing; ``aggregate_fit`` turns the sites' clipped sums into one noisy step."""

    def __init__(self, adapter: Any, spec: FederatedSpec, on_round: Any,
                 n_sites: int, **kw: Any) -> None:
        super().__init__(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n_sites,
                         min_evaluate_clients=0, min_available_clients=n_sites,
                         accept_failures=True,
                         initial_parameters=ndarrays_to_parameters(adapter.arrays()),
                         on_fit_config_fn=lambda rnd: {"round": rnd}, **kw)
        self.adapter, self.spec, self.on_round = adapter, spec, on_round

    def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
        if not results:
            return None, {}
        mean = parameters_to_ndarrays(results[0][1].parameters) if len(results) == 1 else None
        if mean is None:
            weighted = [(parameters_to_ndarrays(r.parameters), r.num_examples) for _, r in results]
            total = sum(n for _, n in weighted)
            mean = [sum(a[i] * n for a, n in weighted) / total for i in range(len(weighted[0][0]))]
        summed = [np.asarray(m, dtype=np.float32) * len(results) for m in mean]
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
        ref = _store_adapter(model, cfg, spec, sigma, rnd)
        now = time.perf_counter()
        rounds.append({"round": rnd, "sites": sites, "failures": failures, "units": units,
                       "grad_norm": round(norm, 6), "seconds": round(now - t_round[0], 3),
                       "adapter": ref})
        t_round[0] = now
        results_file.write_text(json.dumps({"rounds": rounds, "sigma": sigma}, indent=2))

    n_sites = int(cfg["sites"])
    strategy = PrivateSum(adapter, spec, on_round, n_sites)
    legacy = LegacyContext(context=context,
                           config=ServerConfig(num_rounds=spec.rounds,
                                               round_timeout=spec.round_timeout),
                           strategy=strategy)
    if spec.secagg:
        fit = SecAggPlusWorkflow(num_shares=n_sites,
                                 reconstruction_threshold=spec.reconstruction_threshold,
                                 clipping_range=spec.clipping_range, max_weight=1.0,
                                 timeout=spec.round_timeout)
        workflow = DefaultWorkflow(fit_workflow=fit)
    else:
        workflow = DefaultWorkflow()
    workflow(grid, legacy)


def _store_adapter(model: Any, cfg: dict[str, Any], spec: FederatedSpec, sigma: float,
                   rnd: int) -> str:
    """The global adapter after round ``rnd`` into the coordinator's vault."""
    from privtune.tmp import private_tempdir
    from privtune.workspace import Workspace

    coord = cfg.get("coordinator-workspace")
    if not coord:
        return ""
    from privtune.access.apikeys import ENV_API_KEY

    key = os.environ.get(ENV_API_KEY) or None
    with Workspace.open(Path(str(coord)), api_key=key) as ws, private_tempdir("fedadapter") as tmp:
        ws.access.check("federated.coordinate", str(cfg["adapter-name"]), action="store",
                        round=rnd)
        model.save_pretrained(str(tmp / "adapter"))
        privacy = {"dp": True, "federated": True, "rounds": rnd, "noise_multiplier": sigma,
                   "max_grad_norm": spec.max_grad_norm, "sampling_rate": spec.sampling_rate,
                   "delta": spec.delta, "accountant": spec.accountant,
                   "epsilon": round(spec.epsilon_after(rnd, sigma), 4), "unit": "employee",
                   "secagg": spec.secagg, "private": True}
        return ws.vault.put_dir(str(cfg["adapter-name"]), tmp / "adapter", kind="adapter",
                                schema="peft-lora",
                                meta={"privacy": privacy, "federated_run": str(cfg["run-id"]),
                                      "round": rnd})


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


def _client_fn(context: Context) -> Any:
    return SiteClient(context).to_client()


client_app = ClientApp(client_fn=_client_fn, mods=[recording_mod])
client_app_secagg = ClientApp(client_fn=_client_fn, mods=[recording_mod, secaggplus_mod])
