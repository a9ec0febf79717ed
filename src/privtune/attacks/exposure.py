"""Exposure of secret canaries (Carlini et al., "The Secret Sharer", 2019).

For a canary with secret ``s`` drawn from a space ``R`` of candidates, rank every candidate by
the model's log-perplexity of the canary sentence holding it (lower = more likely). Then

    exposure(s) = log2 |R| - log2 rank(s)

A secret the model has not memorised sits near the middle (exposure about 1 bit); a fully
memorised one ranks first (exposure ``log2 |R|``: 40 bits for a canary whose secret is an
``EMP-`` token, ``log2`` of the number of values for a fact field or a ticket category).

* :func:`exact_exposure` ranks the secret among all of ``R`` (small spaces).
* :func:`extrapolated_exposure` (large spaces) fits a normal distribution to the
  log-perplexities of candidates sampled uniformly from ``R`` and reads the secret's rank off
  its lower tail: ``exposure = -log2 P(X <= Px(s))``, capped at ``log2 |R|``.

Ties count in the secret's favour (rank = 1 + number of candidates *strictly* more likely), the
conservative reading for a privacy gate.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from privtune.attacks.canaries import Canary, token_from_index
from privtune.attacks.scoring import LN2, encode_variants, score_encoded


def rank_of(secret_bits: float, other_bits: Sequence[float]) -> int:
    """1 + how many other candidates have a strictly lower log-perplexity."""
    return 1 + sum(1 for x in other_bits if x < secret_bits)


def exact_exposure(secret_bits: float, other_bits: Sequence[float], space_size: int | None = None) -> float:
    """``log2 |R| - log2 rank`` with ``R`` = the secret plus ``other_bits`` (or ``space_size``)."""
    size = space_size if space_size is not None else len(other_bits) + 1
    if size < 1:
        raise ValueError("the candidate space is empty")
    return math.log2(size) - math.log2(rank_of(secret_bits, other_bits))


def log_normal_cdf(z: float) -> float:
    """``ln Phi(z)``, accurate in the far lower tail (asymptotic series below z = -30)."""
    if z > -30.0:
        return math.log(0.5 * math.erfc(-z / math.sqrt(2.0)))
    # Mills ratio: Phi(z) ~ phi(z)/|z| * (1 - 1/z^2 + 3/z^4)
    return (-0.5 * z * z - math.log(-z) - 0.5 * math.log(2.0 * math.pi)
            + math.log1p(-1.0 / (z * z) + 3.0 / z ** 4))


def fit_normal(sample: Sequence[float]) -> tuple[float, float]:
    n = len(sample)
    if n < 2:
        raise ValueError("need at least two sampled candidates to fit a distribution")
    mu = sum(sample) / n
    var = sum((x - mu) ** 2 for x in sample) / (n - 1)
    return mu, math.sqrt(var)


def extrapolated_exposure(secret_bits: float, sample_bits: Sequence[float], space_size: int) -> float:
    """``-log2 P(X <= secret)`` under a normal fitted to ``sample_bits``, within [0, log2 |R|]."""
    mu, sigma = fit_normal(sample_bits)
    cap = math.log2(space_size)
    if sigma <= 0.0:
        return cap if secret_bits < mu else 0.0
    exp = -log_normal_cdf((secret_bits - mu) / sigma) / LN2
    return min(max(exp, 0.0), cap)


@dataclass
class CanaryExposure:
    canary_id: str
    repetitions: int
    exposure: float
    method: str            # "exact" | "extrapolated"
    candidates: int        # candidates scored besides the secret
    sample_rank: int       # the secret's rank among the scored candidates (1 = most likely)
    secret_bits: float     # log-perplexity of the canary sentence, bits
    max_exposure: float    # log2 |R|
    included: bool = True  # planted in the training set (the one-run audit's bit)
    kind: str = ""
    score: float = 0.0     # mean log-perplexity of the other candidates - the secret's (bits)

    def as_dict(self) -> dict[str, Any]:
        return {"canary": self.canary_id, "kind": self.kind, "repetitions": self.repetitions,
                "included": self.included,
                "exposure": round(self.exposure, 3), "max_exposure": round(self.max_exposure, 3),
                "method": self.method, "candidates": self.candidates,
                "sample_rank": self.sample_rank, "log_perplexity_bits": round(self.secret_bits, 3),
                "score": round(self.score, 4)}


def candidate_secrets(canary: Canary, n: int, rng: random.Random,
                      exact_limit: int) -> tuple[list[str], str]:
    """The other secrets of the canary's space when it has at most ``exact_limit`` members
    (a field's values, the categories), else ``n`` distinct ``EMP-`` tokens drawn uniformly;
    returns ``(candidates, method)``."""
    secret = canary.secret
    if canary.space is not None and len(canary.space) <= max(exact_limit, 1):
        return [s for s in canary.space if s != secret], "exact"
    size = canary.space_size
    picked: set[str] = set()
    while len(picked) < min(n, size - 1):
        s = (token_from_index(rng.randrange(size)) if canary.space is None
             else canary.space[rng.randrange(size)])
        if s != secret:
            picked.add(s)
    return sorted(picked), "extrapolated"


def measure_exposure(model: Any, tokenizer: Any, canaries: list[Canary], *,
                     candidates: int = 1000, exact_limit: int = 10_000, seed: int = 0,
                     batch_size: int = 128) -> tuple[list[CanaryExposure], float]:
    """Exposure and score of every candidate canary (included or not) under ``model``;
    returns ``(results, seconds)``."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    out = []
    for c in canaries:
        others, method = candidate_secrets(c, candidates, rng, exact_limit)
        enc = encode_variants(tokenizer, c.example(), c.secret, [c.secret, *others])
        bits = [x / LN2 for x in score_encoded(model, enc, tokenizer.pad_token_id, batch_size).nll]
        mine, rest = bits[0], bits[1:]
        if method == "exact":
            exp = exact_exposure(mine, rest, c.space_size)
        else:
            exp = extrapolated_exposure(mine, rest, c.space_size)
        score = (sum(rest) / len(rest) - mine) if rest else 0.0
        out.append(CanaryExposure(c.id, c.repetitions, exp, method, len(rest), rank_of(mine, rest),
                                  mine, math.log2(c.space_size), c.included, c.kind, score))
    return out, time.perf_counter() - t0


def by_repetition(results: list[CanaryExposure]) -> dict[int, dict[str, float]]:
    """``{repetitions: {"mean": .., "max": ..}}`` of the exposure of the included canaries."""
    groups: dict[int, list[float]] = {}
    for r in results:
        if not r.included:
            continue
        groups.setdefault(r.repetitions, []).append(r.exposure)
    return {k: {"mean": round(sum(v) / len(v), 3), "max": round(max(v), 3), "canaries": len(v)}
            for k, v in sorted(groups.items())}
