"""Where the DP synthesiser's 2-way TVD comes from, on the bench's tables (not a timed bench).

Against the half the synthesiser sees (A), mean 2-way TVD of: the fresh real sample (B); A
resampled with replacement (a perfect model, sampled: the floor set by drawing |A| records);
independent columns from A's exact 1-ways; the exact maximum spanning tree of A's pairs (no
noise at all: what MST's model can reach), sampled and with 200,000 records (the model's own
error); then one fit of MST or AIM at the given epsilon and its worst pairs against B's.

Run: ``OMP_NUM_THREADS=1 python bench/synthesize_diagnose.py [size] [method] [epsilon]
[OVERRIDES.yaml]`` (the last: domain-file entries merged into the demo domains, e.g.
``{job_title: {levels: none}}`` to fit without the job-title hierarchy).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _tree_sample(a: np.ndarray, shape: tuple[int, ...], tree: list[tuple[int, int]], rows: int,
                 gen: np.random.Generator) -> np.ndarray:
    from privtune.dpsynth.mechanisms import _counts

    d = len(shape)
    adj: dict[int, list[int]] = {k: [] for k in range(d)}
    for i, j in tree:
        adj[i].append(j)
        adj[j].append(i)
    out = np.zeros((rows, d), dtype=np.int64)
    p = _counts(a, (0,), shape)
    out[:, 0] = gen.choice(shape[0], rows, p=p / p.sum())
    seen, stack = {0}, [0]
    while stack:
        u = stack.pop()
        for v in adj[u]:
            if v in seen:
                continue
            seen.add(v)
            stack.append(v)
            c = _counts(a, (u, v), shape).reshape(shape[u], shape[v])
            cdf = np.cumsum(c / np.maximum(c.sum(1, keepdims=True), 1e-12), 1)
            w = gen.random(rows)
            out[:, v] = np.minimum((w[:, None] * cdf[out[:, u], -1:] >= cdf[out[:, u]]).sum(1),
                                   shape[v] - 1)
    return out


def main(size: int, method: str, eps: float, overrides: dict | None = None) -> None:
    import os

    from privtune.dp import zcdp
    from privtune.dp.config import default_delta
    from privtune.dp.csprng import SecureRandom
    from privtune.dpsynth import mechanisms, report
    from privtune.dpsynth.mechanisms import _counts
    from synthesize import halves

    domain, codes, a, b = halves(size, overrides)
    shape, n, gen = domain.shape, len(a), np.random.default_rng()
    d = len(shape)

    def tvd2(x: np.ndarray) -> float:
        return round(report.mean_tvd(x, a, shape, 2), 4)

    print(f"{size} employees, {n} seen, {d} columns, sizes {list(shape)}")
    print("fresh real sample (B)        ", tvd2(b))
    print("A resampled (perfect model)  ", tvd2(a[gen.integers(0, n, n)]))
    print("independent columns (exact)  ", tvd2(np.stack([a[gen.integers(0, n, n), j]
                                                           for j in range(d)], 1)))
    weights = {}
    for i, j in itertools.combinations(range(d), 2):
        c = _counts(a, (i, j), shape).reshape(shape[i], shape[j])
        weights[(i, j)] = float(np.abs(c - np.outer(c.sum(1), c.sum(0)) / n).sum())
    parent = list(range(d))

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    tree = []
    for (i, j), _ in sorted(weights.items(), key=lambda kv: -kv[1]):
        if root(i) != root(j):
            tree.append((i, j))
            parent[root(i)] = root(j)
    print("exact tree, no noise, sampled", tvd2(_tree_sample(a, shape, tree, n, gen)))
    print("exact tree, 200,000 records  ", tvd2(_tree_sample(a, shape, tree, 200_000, gen)))
    rho = zcdp.rho_for(eps, default_delta(len(codes)))
    fit = (mechanisms.mst if method == "mst" else mechanisms.aim)(
        a, shape, rho, SecureRandom(), **domain.structure())
    for systematic in (False, True):
        syn = mechanisms.sample(fit, n, gen, systematic=systematic)
        print(f"{method} eps {eps:g}, {'stratified' if systematic else 'i.i.d.':10}   ", tvd2(syn),
              f"gap {tvd2(syn) - tvd2(b):+.4f}")
    print(f"{method} eps {eps:g}, 200,000 records", tvd2(mechanisms.sample(fit, 200_000, gen)))
    print("compressed sizes", [int(fit.domain[x]) for x in fit.domain.attributes],
          "measured", [[domain.names[j] for j in m] for m in fit.measured])
    gaps = sorted(((report.tvd(syn, a, p, shape) - report.tvd(b, a, p, shape),
                    report.tvd(syn, a, p, shape), report.tvd(b, a, p, shape),
                    domain.names[p[0]], domain.names[p[1]])
                   for p in itertools.combinations(range(d), 2)), reverse=True)
    for g in gaps[:10]:
        print("  gap {:+.3f}  synthetic {:.3f}  fresh {:.3f}  {} x {}".format(*g))
    print("overrides", overrides or {}, "load", os.getloadavg())


if __name__ == "__main__":
    args = sys.argv[1:]
    import yaml

    main(int(args[0]) if args else 3000, args[1] if len(args) > 1 else "mst",
         float(args[2]) if len(args) > 2 else 3.0,
         yaml.safe_load(Path(args[3]).read_text()) if len(args) > 3 else None)
