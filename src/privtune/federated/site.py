"""A site of the federation: its own workspace, its own employees, one clipped sum per round.

:func:`site_round` is what a site's ClientApp runs for one round. It opens the site's own
workspace (its own vault, its own de-identified training set split by employee, its own
keys: ``PRIVTUNE_API_KEY`` of the SuperNode's environment), checks ``federated.train`` (the
role may train and charge this site's ledger), reserves the round's epsilon in the site's
privacy ledger (refused past the budget: the site then sits the round out), loads the base
model, sets the global adapter it was sent, draws its Poisson sample of employees from its
own secure randomness, clips each sampled employee's gradient and returns the **sum** of the
clipped gradients as float32 arrays, plus the number of its units (public, like the ``units``
figure of a single-site privacy record). No text, token, pseudonym, per-example or per-unit
value leaves this function.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privtune.dp import ledger
from privtune.dp.clip import UnitClipper
from privtune.dp.csprng import SecureRandom
from privtune.dp.sampler import PoissonUnitSampler
from privtune.dp.step import clipped_batch_sum
from privtune.dp.units import build_units
from privtune.errors import InputError
from privtune.federated.plan import FederatedSpec
from privtune.federated.server import build_lora_model, set_arrays
from privtune.io import read_jsonl
from privtune.train.data import encode_examples
from privtune.train.hardware import resolve_precision
from privtune.train.spec import LoraSpec
from privtune.workspace import Workspace

#: Rows per forward of a site's step (whole units; like train.batch_size).
BATCH_ROWS = 16


@dataclass(frozen=True)
class SiteUpdate:
    arrays: list[np.ndarray]  # the round's clipped sum, one array per LoRA tensor
    units: int                # the site's privacy units (population, not the sample)
    epsilon: float            # charged to the site's ledger for this round
    admitted: bool            # False: the site's budget refused the round (zero update)


def site_round(workspace: Path, dataset: str, base_dir: Path, lora: LoraSpec,
               spec: FederatedSpec, arrays: list[np.ndarray], rnd: int, run_id: str,
               sigma: float, *, api_key: str | None = None) -> SiteUpdate:
    from privtune.access.apikeys import ENV_API_KEY

    api_key = api_key or os.environ.get(ENV_API_KEY) or None
    with Workspace.open(workspace, api_key=api_key) as ws:
        ws.access.check("federated.train", dataset, action="round", round=rnd, run=run_id)
        ref = ws.vault.resolve(dataset)
        train = read_jsonl(ws.vault, ref)
        if not train:
            raise InputError("the site's training set is empty", field="dataset")
        units = build_units([ex.get("employee_ids") or [] for ex in train], "employee", "drop",
                            [ex.get("mentions") or [] for ex in train])
        # what this round adds for the site's people: the k-th round they take part in
        # (k counts the site's earlier charged rounds of this run; a round it missed, being
        # down or out of budget, used none of its people), not the coordinator's round number
        k = ledger.charged_entries(ws.store, f"{run_id}-r") + 1
        eps, delta = spec.round_charge(k, sigma, spec.site_group_size(units.max_group_size))
        entry = f"{run_id}-r{rnd}"
        try:
            ledger.admit(ws.access.check, ws.store, entry, ref, eps, delta, "employee",
                         spec.accountant, default_budget=ws.config.dp_budget_epsilon)
        except Exception as exc:  # over budget: the site sits the round out
            from privtune.errors import PrivacyPolicyError

            if not isinstance(exc, PrivacyPolicyError):
                raise
            return SiteUpdate([np.zeros_like(a) for a in arrays], len(units), 0.0, False)
        try:
            sums = _clipped_sum(train, units.members, base_dir, lora, spec, arrays)
        except BaseException:
            ledger.settle(ws.store, entry, "failed")
            raise
        ledger.settle(ws.store, entry, "done", eps)
    return SiteUpdate(sums, len(units), eps, True)


def _clipped_sum(train: list[dict[str, Any]], members: list[list[int]], base_dir: Path,
                 lora: LoraSpec, spec: FederatedSpec, arrays: list[np.ndarray]) -> list[np.ndarray]:
    model, tokenizer = build_lora_model(base_dir, lora)
    set_arrays(model, arrays)
    encoded, _ = encode_examples(tokenizer, train, spec.max_seq_len)
    position = {e.index: k for k, e in enumerate(encoded)}
    from privtune.dp.units import Units

    rng = SecureRandom()
    sampler = PoissonUnitSampler(Units(members, "employee"), spec.sampling_rate,
                                 spec.max_examples_per_unit, rng)
    rows = [(position[i], slot) for i, slot in sampler.next_batch() if i in position]
    clipper = UnitClipper(model, spec.max_grad_norm).attach()
    try:
        model.train()
        device = torch.device("cpu")
        cb = clipped_batch_sum(model, rows, encoded, tokenizer.pad_token_id, device, clipper,
                               resolve_precision("fp32", device), BATCH_ROWS)
    finally:
        clipper.detach()
    out = [s.detach().cpu().numpy().astype(np.float32) for s in cb.sums]
    if not all(math.isfinite(float(np.abs(a).sum())) for a in out):
        raise InputError("a site's clipped sum is not finite")
    return out
