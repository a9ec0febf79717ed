"""Federated fine-tuning across sites on Flower, private by default (docs/federated.md).

* :mod:`~privtune.federated.plan` - the federation's DP plan: one round is one DP-SGD step
  over a Poisson sample of every site's employees; sigma calibrated for the rounds; the
  epsilon each round adds (charged to each site's ledger).
* :mod:`~privtune.federated.server` - the coordinator's step: sum of the sites' clipped sums,
  noise added once per round from the secure randomness, the global adapter updated.
* :mod:`~privtune.federated.site` - a site: its own workspace (vault, de-identification,
  dataset split by employee), per-employee clipping, the round's clipped sum, its ledger.
* :mod:`~privtune.federated.pki` - the CA, SuperLink certificate and SuperNode keys.
* :mod:`~privtune.federated.apps` - Flower's ServerApp and ClientApp (imports ``flwr``: runs
  in Flower's own environment, see docs/federated.md).
* :mod:`~privtune.federated.simulate` - ``privtune federated simulate``: a real SuperLink and
  SuperNodes as separate processes on loopback over TLS.

Nothing here imports ``flwr`` but :mod:`~privtune.federated.apps`.
"""
