"""Units, Poisson sampling (variable and empty batches), the cap, the noise and the DP step."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.dp.clip import UnitClipper
from privtune.dp.csprng import SecureRandom, SeededRandom
from privtune.dp.noise import add_noise
from privtune.dp.sampler import PoissonUnitSampler
from privtune.dp.step import dp_train_step, split_units
from privtune.dp.units import build_units
from privtune.train.hardware import Precision

from .conftest import naive_clipped_sum, random_encoded, tiny_lora_mistral


def test_employee_units_with_shared_and_anonymous_examples():
    ids = [["a"], ["b", "a"], [], ["b"], ["c"], []]
    u = build_units(ids, "employee")
    assert u.members == [[0, 1], [1, 3], [4], [2], [5]]  # a, b, c, then one per anonymous
    assert (u.employee_units, u.max_co_units, u.dropped_shared) == (3, 1, 0)
    d = build_units(ids, "employee", "drop")
    assert d.members == [[0], [3], [4], [2], [5]] and d.dropped_shared == 1
    assert build_units(ids, "example").members == [[i] for i in range(6)]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdef"), max_size=3), min_size=1, max_size=30))
def test_every_example_employee_pair_is_in_exactly_that_unit(ids):
    u = build_units(ids, "employee")
    emps = sorted({e for x in ids for e in x})
    for k, e in enumerate(emps):
        assert u.members[k] == [i for i, x in enumerate(ids) if e in x]
    solo = [m[0] for m in u.members[len(emps):]]
    assert solo == [i for i, x in enumerate(ids) if not x]


def test_poisson_batches_vary_in_size_and_include_empty_ones():
    units = build_units([[f"e{i}"] for i in range(20)], "employee")
    s = PoissonUnitSampler(units, 0.1, cap=4, rng=SecureRandom())
    sizes = [len({slot for _, slot in s.next_batch()}) for _ in range(2000)]
    assert 0 in sizes and len(set(sizes)) >= 5
    assert sum(sizes) / len(sizes) == pytest.approx(2.0, rel=0.06)  # q * units


def test_cap_takes_a_random_subset_of_a_units_examples():
    units = build_units([["a"]] * 10, "employee")
    s = PoissonUnitSampler(units, 1.0, cap=3, rng=SecureRandom())
    counts = [0] * 10
    for _ in range(2000):
        rows = s.next_batch()
        assert len(rows) == 3 and len({i for i, _ in rows}) == 3 and {sl for _, sl in rows} == {0}
        assert [i for i, _ in rows] == sorted(i for i, _ in rows)
        for i, _ in rows:
            counts[i] += 1
    # each example in 3/10 of the steps: a uniform subset (chi-square, 9 dof, p > 1e-4)
    chi2 = sum((c - 600) ** 2 / 600 for c in counts)
    assert chi2 < 33.7


def test_two_secure_samplers_draw_different_batches():
    # the attack of issue 14: with the sampler seeded from train.seed (default 0), two runs
    # of one config took the very same units step after step, and anyone with the config knew
    # which employees each step held
    units = build_units([[f"e{i}"] for i in range(300)], "employee")
    a = PoissonUnitSampler(units, 0.1, 2, SecureRandom())
    b = PoissonUnitSampler(units, 0.1, 2, SecureRandom())
    assert [a.next_batch() for _ in range(20)] != [b.next_batch() for _ in range(20)]
    sizes = [len({sl for _, sl in a.next_batch()}) for _ in range(20)]
    assert len(set(sizes)) > 1


def test_seeded_sampler_state_resumes_exactly():
    units = build_units([[f"e{i % 7}"] for i in range(30)], "employee")
    ra = SeededRandom(5)
    a = PoissonUnitSampler(units, 0.3, 2, ra)
    [a.next_batch() for _ in range(3)]
    rb = SeededRandom(99)
    b = PoissonUnitSampler(units, 0.3, 2, rb)
    rb.load_state_dict(ra.state_dict())
    assert [a.next_batch() for _ in range(5)] == [b.next_batch() for _ in range(5)]


def test_noise_has_the_calibrated_standard_deviation():
    gen = SecureRandom()
    zero = [torch.zeros(200, 50), torch.zeros(10_000)]
    std, denom = 0.7 * 1.5, 8.0  # sigma 0.7, clip norm 1.5
    out = add_noise(zero, std, denom, gen)
    x = torch.cat([t.flatten() for t in out]) * denom
    n = x.numel()
    assert abs(float(x.mean())) < 4 * std / math.sqrt(n)
    # sample std within 4 standard errors (se of the std ~ std / sqrt(2n))
    assert abs(float(x.std()) - std) < 4 * std / math.sqrt(2 * n)
    assert [t.shape for t in out] == [t.shape for t in zero]
    assert all(float(t.abs().max()) == 0.0 for t in zero)  # the sums are not modified
    again = add_noise(zero, std, denom, SecureRandom())
    assert not any(torch.equal(a, b) for a, b in zip(out, again))
    seeded = [add_noise(zero, std, denom, SeededRandom(3)) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*seeded))


def test_split_units_keeps_units_whole_and_respects_the_row_cap():
    lengths = [[5, 9], [30], [7, 7, 7], [12], [3]]
    chunks = split_units(lengths, max_rows=3)
    assert sorted(u for c in chunks for u in c) == list(range(5))
    assert all(sum(len(lengths[u]) for u in c) <= 3 for c in chunks)


class _NoSched:
    def step(self) -> None:
        pass


def _step(model, rows, enc, std, gen, max_rows=8):
    clipper = UnitClipper(model, 0.5).attach()
    params = clipper.params
    before = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=1.0)
    stats = dp_train_step(model, rows, enc, 0, torch.device("cpu"), clipper, opt, _NoSched(),
                          Precision("fp32", None, "cpu"), std, 4.0, gen, max_rows)
    clipper.detach()
    return stats, [b - p.detach() for b, p in zip(before, params)]  # = lr * applied gradient


def test_empty_batch_still_adds_noise_and_counts_without_a_forward():
    model = tiny_lora_mistral(seed=2)
    calls = []
    h = model.register_forward_pre_hook(lambda *a: calls.append(1))
    stats, delta = _step(model, [], [], std=0.3, gen=SecureRandom())
    h.remove()
    assert calls == [] and stats.units == 0 and stats.rows == 0
    x = torch.cat([d.flatten() for d in delta]) * 4.0
    assert float(x.std()) == pytest.approx(0.3, rel=0.1)


@pytest.mark.slow  # builds a model and runs a naive per-unit reference loop
def test_dp_step_applies_clipped_sum_plus_noise_over_expected_batch():
    model = tiny_lora_mistral(seed=4)
    enc = random_encoded(6, seed=9)
    rows = [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 2), (1, 3)]  # example 1 in two units
    ref, _ = naive_clipped_sum(model, enc, [[0, 1], [2], [3, 4, 5], [1]], 0.5)
    stats, delta = _step(model, rows, enc, std=0.0, gen=SecureRandom(), max_rows=4)
    assert stats.units == 4 and stats.rows == 7
    for d, r in zip(delta, ref):
        torch.testing.assert_close(d, r / 4.0, rtol=1e-5, atol=1e-9)
