"""MST (McKenna, Miklau & Sheldon 2021) and AIM (McKenna, Mullins, Sheldon & Miklau 2022):
noisy marginals, a graphical model fitted to them by ``mbi`` 2.x (private-pgm), and records
**sampled** from the model.

Both spend a zCDP budget ``rho`` (:mod:`privtune.dp.zcdp`), tracked by a
:class:`~privtune.dp.zcdp.ZCDPAccountant` that refuses to overspend; the privacy unit is one row
(the caller keeps one row per person). Every noise draw and every exponential-mechanism
selection comes from a :class:`~privtune.dp.csprng.DPRandom`: by default the cryptographic
:class:`~privtune.dp.csprng.SecureRandom` (no seed, nothing to store); a seeded one only in the
explicit insecure test mode, which the privacy record marks ``private: false``. Sampling the
records from the fitted model is post-processing of the noisy measurements; its generator is
seeded from the same source (so a stored seed replays nothing in the secure mode either).

Why sample and not round: rounding the model's marginals into records (``mbi`` 1.x
``method="round"``) creates false correlations between columns drawn one after the other
(measured with smartnoise on a 5,000 x 10 HR table: mean 2-way TVD 0.176 for MST at epsilon 1
against 0.053 when sampling); records here are drawn from the model, column by column along the
junction tree's elimination order, each from its conditional given the columns drawn before.
The draws are stratified within each group of rows that share those parent values (systematic
sampling, :func:`_uniforms`): each row's value still follows the model's conditional, the rows'
order within a group is random (no false correlation with columns drawn before), but a group's
values follow the conditional more closely than i.i.d. draws (on the 3,000-employee bench the
mean 2-way TVD drops by about 0.007-0.01).

Compression (both): after the one-way measurements, the values of a column measured below
3 sigma are merged (post-processing, as in MST), one merged value per **public group** of the
column (:attr:`privtune.dpsynth.domain.Column.groups`: a state's census region, a job title's
department, a run of adjacent salary bins), so a rare job title stays in its department; a
record drawn with a merged value gets one of its values in proportion to their clipped noisy
one-way counts (the paper: uniformly, over one group of every rare value). A column with a
public hierarchy (``coarse``: a job title's level) is modelled by its cells whatever was
measured, and its value drawn within the cell and within the record's group (``within``: the
title within the record's department), stratified like the model's columns.

MST: :data:`MST_SHARES` of rho measure every 1-way marginal, select a maximum spanning tree of
pairs by the exponential mechanism (Kruskal with noisy choices, the score being the L1 gap
between the pair's counts and the independent model's of the noisy 1-ways: sensitivity 1) and
measure the tree's 2-way marginals (the paper: thirds; the 1-ways matter more here, see
docs/synthetic.md).

AIM: 1-way marginals first, then rounds that each select a 2- or 3-way marginal by the
exponential mechanism (score: the L1 error of the current model, minus the expected noise,
weighted by the marginal's overlap with the workload) among those whose model stays under a
size limit, measure it, refit; the noise shrinks (the per-round budget doubles) when a round's
measurement barely changed the model, until the budget is spent. Each round (the d 1-ways
count as d rounds) gets 0.9 rho / T for its measurement and 0.1 rho / T for its selection, with
T = :data:`AIM_ROUNDS_FACTOR` x d (the paper: 16 d; on 1,500 people that leaves every
measurement too noisy, see docs/synthetic.md).
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privtune.dp.csprng import DPRandom
from privtune.dp.zcdp import ZCDPAccountant, exponential_epsilon, gaussian_sigma

METHODS = ("mst", "aim")
ESTIMATION_ITERS = 1000
#: AIM's cap on the size of the model (cells of the junction tree), as in the paper (in MB there)
AIM_MAX_CELLS = 2_000_000
#: T = AIM_ROUNDS_FACTOR * d rounds at most (the paper: 16; see :func:`aim` and docs/synthetic.md)
AIM_ROUNDS_FACTOR = 2.0
#: records drawn from the current model to score AIM's candidates
AIM_SCORE_SAMPLE = 50_000


def _mbi() -> Any:
    """Import ``mbi`` (JAX) with float64 on and its compilation-cache warning quiet."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no accelerator probing: small models
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mbi
    return mbi


@dataclass
class Fit:
    """A fitted model and what it spent."""

    model: Any
    domain: Any
    accountant: ZCDPAccountant
    method: str
    measured: list[tuple[int, ...]] = field(default_factory=list)  # the marginals chosen
    #: column -> the original codes of each compressed code
    merged: dict[int, list[np.ndarray]] = field(default_factory=dict)
    #: column -> the weights of the original codes in each compressed code (clipped noisy
    #: one-way counts), to spread a merged value back
    spread: dict[int, list[np.ndarray]] = field(default_factory=dict)
    #: column -> (another column, the code of it each original value belongs to, -1: none):
    #: a merged value is spread only over the values of the record's group (a job title within
    #: the record's department), where any was measured
    within: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)


class _Noise:
    def __init__(self, rng: DPRandom) -> None:
        self.rng = rng

    def normal(self, n: int, std: float) -> np.ndarray:
        import torch

        return self.rng.normal(n, std, torch.float64, "cpu").numpy()

    def gumbel(self, n: int) -> np.ndarray:
        u = self.rng.uniform(n).numpy()
        return -np.log(-np.log1p(-u * (1 - 1e-16)) + 1e-300)


def _counts(data: np.ndarray, cols: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    sub = tuple(data[:, c] for c in cols)
    dims = tuple(shape[c] for c in cols)
    flat = np.ravel_multi_index(sub, dims) if cols else np.zeros(len(data), dtype=np.int64)
    return np.bincount(flat, minlength=int(np.prod(dims))).astype(np.float64)


def _exp_mech(noise: _Noise, scores: np.ndarray, eps: float, sensitivity: float) -> int:
    """The exponential mechanism by the Gumbel-max trick (secure uniforms)."""
    logits = eps * (scores - scores.max()) / (2 * sensitivity)
    return int(np.argmax(logits + noise.gumbel(len(scores))))


class _Problem:
    def __init__(self, data: np.ndarray, shape: Sequence[int], rng: DPRandom, rho: float) -> None:
        self.mbi = _mbi()
        self.data = data
        self.shape = tuple(int(s) for s in shape)
        self.names = tuple(f"c{j}" for j in range(len(shape)))
        self.noise = _Noise(rng)
        self.acc = ZCDPAccountant(rho)
        self.measurements: list[Any] = []

    def domain(self) -> Any:
        return self.mbi.Domain(self.names, self.shape)

    def measure(self, cols: tuple[int, ...], sigma: float) -> np.ndarray:
        """A Gaussian measurement of the marginal ``cols`` (L2 sensitivity 1: one row moves one
        count by one), recorded for the estimator."""
        self.acc.gaussian_measurement(sigma)
        x = _counts(self.data, cols, self.shape)
        y = x + self.noise.normal(x.size, sigma)
        self.measurements.append(self.mbi.LinearMeasurement(
            y, tuple(self.names[c] for c in cols), stddev=sigma))
        return y

    def carry_ones(self, ones: Sequence[np.ndarray], sigma: float) -> None:
        """Record one-way measurements already paid for (re-expressed on a compressed domain:
        post-processing). A merged cell sums several noisy cells; as in the paper it keeps the
        cells' sigma."""
        for j, y in enumerate(ones):
            self.measurements.append(self.mbi.LinearMeasurement(
                np.asarray(y, dtype=np.float64), (self.names[j],), stddev=sigma))

    def estimate(self, warm: Any = None, iters: int = ESTIMATION_ITERS) -> Any:
        est = self.mbi.estimation.MirrorDescent()
        return est.estimate(self.domain(), list(self.measurements), iters=iters,
                            warm_start=warm)


#: MST's split of rho: one-way marginals, the tree's selection, the tree's two-way marginals
#: (the paper splits in thirds; docs/synthetic.md has what was measured)
MST_SHARES = (0.3, 0.1, 0.6)
#: a value measured below this many sigmas of the one-way noise is merged (paper: 3)
MST_COMPRESS_SIGMAS = 3.0


def _compress(data: np.ndarray, shape: Sequence[int], ones: list[np.ndarray], sigma: float,
              groups: Sequence[Sequence[int]] | None, sigmas: float,
              coarse: Sequence[Sequence[int]] | None = None
              ) -> tuple[np.ndarray, list[int], list[np.ndarray], dict[int, list[np.ndarray]],
                         dict[int, list[np.ndarray]]]:
    """MST's domain compression (post-processing of the noisy one-way counts ``ones``): the
    values of a column measured below ``sigmas * sigma`` are merged into one value per public
    group (``groups[j]``: a group per value; empty or ``None``: one group). A column with a
    public hierarchy (``coarse[j]``: a cell per value) is modelled by its cells instead,
    whatever was measured (the cells are public: no threshold). Returns the codes on the
    compressed domain, its shape, the one-way measurements re-expressed on it, and per
    compressed column the original codes of each new code and their weights (the clipped noisy
    counts) to spread a merged value back when sampling."""
    merged: dict[int, list[np.ndarray]] = {}
    spread: dict[int, list[np.ndarray]] = {}
    codes = data.copy()
    new_shape = [int(s) for s in shape]
    ones = list(ones)
    for j, y in enumerate(ones):
        cells = coarse[j] if coarse is not None and len(coarse[j]) else None
        if cells is not None:
            cell = np.asarray(cells, dtype=np.int64)
            if len(np.unique(cell)) == new_shape[j]:
                continue
            parts = [np.flatnonzero(cell == g) for g in np.unique(cell)]
        else:
            keep = y >= sigmas * sigma
            group = np.asarray(groups[j] if groups is not None and len(groups[j]) else
                               np.zeros(new_shape[j], dtype=np.int64), dtype=np.int64)
            if keep.all() or (keep.sum() == 0 and group.max() == 0):
                continue
            # kept values first, then one merged value per public group of the others
            parts = [np.array([v]) for v in np.flatnonzero(keep)]
            parts += [np.flatnonzero(~keep & (group == g)) for g in np.unique(group[~keep])]
        mapping = np.empty(new_shape[j], dtype=np.int64)
        for k, vals in enumerate(parts):
            mapping[vals] = k
        codes[:, j] = mapping[codes[:, j]]
        new_shape[j] = len(parts)
        merged[j] = parts
        spread[j] = [np.clip(y[v], 0, None) for v in parts]
        ones[j] = np.array([y[v].sum() for v in parts])
    return codes, new_shape, ones, merged, spread


def mst(data: np.ndarray, shape: Sequence[int], rho: float, rng: DPRandom,
        shares: tuple[float, float, float] = MST_SHARES,
        compress_sigmas: float = MST_COMPRESS_SIGMAS,
        groups: Sequence[Sequence[int]] | None = None,
        coarse: Sequence[Sequence[int]] | None = None,
        within: dict[int, tuple[int, np.ndarray]] | None = None) -> Fit:
    """Fit MST to ``data`` (codes, one row per person) under ``rho``-zCDP. ``groups``: a public
    group per value of each column (:attr:`privtune.dpsynth.domain.Column.groups`, empty: one
    group); values measured below ``compress_sigmas`` one-way sigmas are merged within their
    group. ``coarse``: a public hierarchy cell per value (``Column.coarse``, empty: none): such
    a column is modelled by its cells, its values drawn within their cell (and within the group
    ``within`` names, ``Domain.structure``) in proportion to their noisy one-way counts."""
    if not (len(shares) == 3 and min(shares) > 0 and abs(sum(shares) - 1) < 1e-9):
        raise ValueError("MST shares: three positive parts of rho summing to 1")
    p = _Problem(data, shape, rng, rho)
    d = len(shape)
    # 1. one-way marginals, then merge the values measured below compress_sigmas * sigma
    sigma1 = gaussian_sigma(rho * shares[0] / d)
    ones = [p.measure((j,), sigma1) for j in range(d)]
    codes, new_shape, ones, merged, spread = _compress(data, p.shape, ones, sigma1, groups,
                                                       compress_sigmas, coarse)
    # restart on the compressed domain: the one-way measurements carry over
    q = _Problem(codes, new_shape, rng, rho)
    q.acc = p.acc
    q.carry_ones(ones, sigma1)
    # 2. select a tree by the exponential mechanism over the pairs
    # the model of the one-way measurements alone is the product of its one-way marginals
    sigma2 = gaussian_sigma(rho * shares[2] / max(1, d - 1))
    ones_hat = [np.clip(np.asarray(y, dtype=np.float64), 0, None) for y in ones]
    total = max(1.0, float(np.mean([y.sum() for y in ones_hat])))
    probs = [y / y.sum() if y.sum() > 0 else np.full(y.size, 1 / y.size) for y in ones_hat]
    pairs = list(itertools.combinations(range(d), 2))
    weights = {}
    for a, b in pairs:
        est = total * np.outer(probs[a], probs[b]).ravel()
        weights[(a, b)] = float(np.abs(_counts(codes, (a, b), new_shape) - est).sum())
    eps_sel = exponential_epsilon(rho * shares[1] / max(1, d - 1))
    parent = list(range(d))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    tree: list[tuple[int, int]] = []
    for _ in range(d - 1):
        cands = [e for e in pairs if root(e[0]) != root(e[1])]
        scores = np.array([weights[e] for e in cands])
        q.acc.exponential_selection(eps_sel)
        a, b = cands[_exp_mech(q.noise, scores, eps_sel, 1.0)]
        tree.append((a, b))
        parent[root(a)] = root(b)
    # 3. measure the tree's pairs
    for e in tree:
        q.measure(e, sigma2)
    model = q.estimate(warm=None)
    return Fit(model, q.domain(), q.acc, "mst", [(a, b) for a, b in tree], merged, spread,
               dict(within or {}))


def _cells(mbi: Any, domain: Any, cliques: Sequence[tuple[str, ...]]) -> int:
    jt, _ = mbi.junction_tree.make_junction_tree(domain, [tuple(c) for c in cliques])
    return int(sum(domain.size(tuple(c)) for c in jt.nodes))


def aim(data: np.ndarray, shape: Sequence[int], rho: float, rng: DPRandom,
        max_cells: int = AIM_MAX_CELLS, rounds_factor: float = AIM_ROUNDS_FACTOR,
        groups: Sequence[Sequence[int]] | None = None,
        compress_sigmas: float = MST_COMPRESS_SIGMAS,
        coarse: Sequence[Sequence[int]] | None = None,
        within: dict[int, tuple[int, np.ndarray]] | None = None) -> Fit:
    """Fit AIM to ``data`` under ``rho``-zCDP (2- and 3-way candidate workload). The model's
    marginals that score the candidates come from a sample of the model (its generator seeded
    from ``rng``). After the one-way round the domain is compressed as MST's
    (:func:`_compress`, post-processing of those measurements: ``groups``, ``compress_sigmas``,
    the public hierarchy ``coarse`` and ``within``, as :func:`mst`)."""
    p0 = _Problem(data, shape, rng, rho)
    score_gen = np.random.default_rng(int.from_bytes(bytes(rng.uniform(4).numpy().tobytes()),
                                                     "little"))
    d = len(shape)
    rounds = max(1, round(rounds_factor * d))
    sigma = math.sqrt(rounds / (2 * 0.9 * rho))
    eps = math.sqrt(8 * 0.1 * rho / rounds)
    # initialisation: every one-way marginal at the round's sigma
    ones = [p0.measure((j,), sigma) for j in range(d)]
    data, cshape, ones, merged, spread = _compress(data, p0.shape, ones, sigma, groups,
                                                   compress_sigmas, coarse)
    p = _Problem(data, cshape, rng, rho)
    p.acc = p0.acc
    p.carry_ones(ones, sigma)
    model = p.estimate(iters=ESTIMATION_ITERS)
    workload = [c for k in (2, 3) for c in itertools.combinations(range(d), k)]
    weights = {c: float(sum(len(set(c) & set(o)) for o in workload)) for c in workload}
    measured: list[tuple[str, ...]] = [(p.names[j],) for j in range(d)]
    chosen: list[tuple[int, ...]] = []
    terminate = False
    while not terminate:
        left = p.acc.left
        if left < 2 * (0.5 / sigma ** 2 + eps ** 2 / 8):
            # the last round spends exactly what is left
            sigma = math.sqrt(1 / (2 * 0.9 * left))
            eps = math.sqrt(8 * 0.1 * left)
            terminate = True
        cands = []
        for c in workload:
            names = tuple(p.names[j] for j in c)
            if _cells(p.mbi, p.domain(), [*[m for m in measured], names]) <= max_cells:
                cands.append(c)
        if not cands:
            break
        # the model's marginals of every candidate, from a large sample of the model
        # (post-processing; asking mbi for each unsupported marginal compiles a program each)
        draws = sample(Fit(model, p.domain(), p.acc, "aim"), AIM_SCORE_SAMPLE, score_gen)
        scale = float(model.total) / AIM_SCORE_SAMPLE
        scores = []
        for c in cands:
            x = _counts(data, c, p.shape)
            est = _counts(draws, c, p.shape) * scale
            bias = math.sqrt(2 / math.pi) * sigma * x.size
            scores.append(weights[c] * (np.abs(x - est).sum() - bias))
        score_arr = np.array(scores)
        sens = max(weights[c] for c in cands)
        p.acc.exponential_selection(eps)
        c = cands[_exp_mech(p.noise, score_arr, eps, sens)]
        names = tuple(p.names[j] for j in c)
        before = _counts(draws, c, p.shape) * scale
        p.measure(c, sigma)
        measured.append(names)
        chosen.append(c)
        model = p.estimate(warm=model, iters=ESTIMATION_ITERS // 4)
        after = _counts(sample(Fit(model, p.domain(), p.acc, "aim"), AIM_SCORE_SAMPLE, score_gen),
                        c, p.shape) * float(model.total) / AIM_SCORE_SAMPLE
        if not terminate and np.abs(after - before).sum() <= sigma * math.sqrt(2 / math.pi) * \
                after.size:
            # the model barely moved: spend more per round
            sigma /= 2
            eps *= 2
        if p.acc.left <= 1e-12 * max(1.0, rho):
            break
    return Fit(model, p.domain(), p.acc, "aim", chosen, merged, spread, dict(within or {}))


def _uniforms(gen: np.random.Generator, groups: np.ndarray, systematic: bool) -> np.ndarray:
    """One uniform per row. ``systematic``: within each group of rows (the same parent values)
    the uniforms are ``(rank + U) / size`` over a random order of the group's rows: each row's
    uniform is still uniform on [0, 1) and independent of the columns drawn before except
    through the parents, but the group's values follow the model's conditional more closely
    than i.i.d. draws (stratified sampling; mbi's ``method="round"`` does the same)."""
    n = len(groups)
    u = gen.random(n)
    if not systematic or n == 0:
        return u
    perm = gen.permutation(n)
    perm = perm[np.argsort(groups[perm], kind="stable")]  # grouped, random within a group
    sizes = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ranks = np.arange(n) - starts[groups[perm]]
    out = np.empty(n)
    out[perm] = (ranks + u[perm]) / sizes[groups[perm]]
    return out


def sample(fit: Fit, rows: int, gen: np.random.Generator, systematic: bool = True) -> np.ndarray:
    """``rows`` records from the model, column by column along the junction tree's
    elimination order (each column from its conditional given the columns drawn before that
    share a clique with it), as codes of the original (uncompressed) domain. ``systematic``:
    stratified uniforms within each parent group (:func:`_uniforms`), else i.i.d."""
    mbi = _mbi()
    model = fit.model
    domain = fit.domain
    jt, order = mbi.junction_tree.make_junction_tree(domain, [tuple(c) for c in model.cliques])
    cliques = [set(c) for c in jt.nodes]
    attrs = list(domain.attributes)
    data: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for col in list(order)[::-1]:
        relevant = [c for c in cliques if col in c]
        parents = tuple(a for a in attrs if a in used and any(a in c for c in relevant))
        marg = np.asarray(model.project(parents + (col,)).datavector(flatten=False),
                          dtype=np.float64)
        marg = np.clip(marg, 0, None)
        size = domain[col]
        cond = marg.reshape(-1, size)
        tot = cond.sum(axis=1, keepdims=True)
        cond = np.divide(cond, tot, out=np.full_like(cond, 1 / size), where=tot > 0)
        cdf = np.cumsum(cond, axis=1)
        idx = np.ravel_multi_index(tuple(data[a] for a in parents),
                                   tuple(domain[a] for a in parents)) if parents \
            else np.zeros(rows, dtype=np.int64)
        u = _uniforms(gen, idx, systematic)
        pick = (u[:, None] * cdf[idx, -1:] >= cdf[idx]).sum(axis=1)
        data[col] = np.minimum(pick, size - 1)
        used.add(col)
    out = np.stack([data[a] for a in attrs], axis=1).astype(np.int64)
    # a column spread within another's value comes after that one (its original codes)
    for j in sorted(fit.merged, key=lambda j: j in fit.within):
        # a merged value becomes one of the values merged into it, in proportion to their
        # clipped noisy one-way counts (post-processing), uniformly if all are zero; with a
        # ``within`` link only the values of the record's group (fail-safe: where none of
        # them was measured, any value of the cell)
        col = out[:, j]
        new = np.empty_like(col)
        link = fit.within.get(j)
        for k, vals in enumerate(fit.merged[j]):
            rows_k = np.flatnonzero(col == k)
            if len(vals) == 1 or len(rows_k) == 0:
                new[rows_k] = vals[0]
                continue
            w = fit.spread[j][k]
            keys = out[rows_k, link[0]] if link is not None else np.zeros(len(rows_k), int)
            for key in np.unique(keys):
                sub = rows_k[keys == key]
                wk = w * (link[1][vals] == key) if link is not None else w
                if wk.sum() <= 0:
                    wk = w
                p = wk / wk.sum() if wk.sum() > 0 else np.full(len(vals), 1 / len(vals))
                # stratified as the model's columns (systematic: one group of rows)
                u = _uniforms(gen, np.zeros(len(sub), dtype=np.int64), systematic)
                new[sub] = vals[np.minimum(np.searchsorted(np.cumsum(p), u, "right"),
                                           len(vals) - 1)]
        out[:, j] = new
    return out
