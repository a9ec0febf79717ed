"""MST and AIM over mbi: they spend exactly the rho they are given, their noise comes from the
secure generator (two runs differ; no seed to store), a seeded run is replayable only in the
explicit insecure mode, the exponential mechanism picks by the score, and the records they
sample keep the data's dependence."""

from __future__ import annotations

import numpy as np
import pytest

from privtune.dp import zcdp
from privtune.dp.csprng import SecureRandom, SeededRandom
from privtune.dpsynth import mechanisms, report

SHAPE = (4, 4, 3, 5)


def _data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + (rng.random(n) < 0.1)) % 4
    c = rng.integers(0, 3, n)
    d = np.minimum(4, c + rng.integers(0, 3, n))
    return np.stack([a, b, c, d], 1)


def test_exponential_mechanism_follows_the_scores() -> None:
    noise = mechanisms._Noise(SecureRandom())
    scores = np.array([0.0, 0.0, 30.0])
    picks = [mechanisms._exp_mech(noise, scores, 1.0, 1.0) for _ in range(300)]
    assert np.mean(np.array(picks) == 2) > 0.99
    flat = [mechanisms._exp_mech(noise, np.zeros(3), 1.0, 1.0) for _ in range(900)]
    assert all(200 < flat.count(k) < 400 for k in range(3))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mst", "aim"])
def test_fit_spends_rho_and_keeps_the_dependence(method: str) -> None:
    data = _data(4000, 1)
    rho = zcdp.rho_for(3.0, 1e-6)
    fit = getattr(mechanisms, method)(data, SHAPE, rho, SecureRandom())
    assert fit.accountant.spent == pytest.approx(rho, rel=1e-6)
    syn = mechanisms.sample(fit, 4000, np.random.default_rng())
    assert syn.shape == (4000, 4) and (syn < np.array(SHAPE)).all()
    fresh = _data(4000, 2)
    base = report.mean_tvd(fresh, data, SHAPE, 2)
    assert report.mean_tvd(syn, data, SHAPE, 2) < base + 0.05
    # the a -> b dependence survives (independent columns would give V near 0)
    assert report.cramers_v(syn, 0, 1, SHAPE) > 0.7


@pytest.mark.slow
def test_secure_noise_differs_and_insecure_seed_replays() -> None:
    data = _data(600, 3)
    rho = zcdp.rho_for(1.0, 1e-6)
    ys = []
    for rng in (SecureRandom(), SecureRandom(), SeededRandom(5), SeededRandom(5)):
        p = mechanisms._Problem(data, SHAPE, rng, rho)
        ys.append(p.measure((0, 1), zcdp.gaussian_sigma(rho)))
    assert not np.allclose(ys[0], ys[1])     # no seed: fresh noise every run
    assert np.allclose(ys[2], ys[3])         # the insecure test mode replays
    assert SecureRandom.private and not SeededRandom.private


def test_compression_merges_rare_values_only_within_their_public_group() -> None:
    """Post-processing of the noisy one-way counts: values below the threshold merge into one
    value per public group; the counts re-expressed on the merged domain sum the cells."""
    data = np.array([[0], [1], [2], [3], [4], [5]])
    ones = [np.array([50.0, 1.0, -2.0, 40.0, 2.0, 0.5])]
    groups = [(0, 0, 0, 1, 1, 2)]
    codes, shape, new_ones, merged, spread = mechanisms._compress(data, (6,), ones, 1.0,
                                                                  groups, 3.0)
    parts = [list(v) for v in merged[0]]
    assert parts == [[0], [3], [1, 2], [4], [5]]      # kept; then group 0's rest, 1's, 2's
    assert shape == [5]
    assert list(codes[:, 0]) == [0, 2, 2, 1, 3, 4]
    assert np.allclose(new_ones[0], [50.0, 40.0, -1.0, 2.0, 0.5])
    assert np.allclose(spread[0][2], [1.0, 0.0])      # clipped noisy counts spread it back
    # no groups: one merged value for every rare one, as in the MST paper
    _, shape1, _, merged1, _ = mechanisms._compress(data, (6,), ones, 1.0, None, 3.0)
    assert shape1 == [3] and [list(v) for v in merged1[0]] == [[0], [3], [1, 2, 4, 5]]
    # nothing rare: nothing merged
    _, shape2, _, merged2, _ = mechanisms._compress(data, (6,), [np.full(6, 9.0)], 1.0,
                                                    groups, 3.0)
    assert shape2 == [6] and merged2 == {}


def test_systematic_uniforms_are_uniform_and_stratified_within_each_group() -> None:
    gen = np.random.default_rng(3)
    groups = np.repeat([0, 1, 2], [7, 40, 3])[gen.permutation(50)]
    u = mechanisms._uniforms(gen, groups, True)
    assert ((u >= 0) & (u < 1)).all()
    for g in range(3):
        ug = u[groups == g]
        # one uniform per stratum [k / size, (k + 1) / size) of the group
        assert sorted(np.floor(ug * len(ug)).astype(int)) == list(range(len(ug)))
    # each row's uniform is uniform on [0, 1): over many draws its mean is 1/2
    means = np.mean([mechanisms._uniforms(gen, groups, True) for _ in range(400)], axis=0)
    assert np.abs(means - 0.5).max() < 0.1


@pytest.mark.slow
def test_mst_spends_its_shares_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The accounting of each MST measurement (the fit itself is skipped): d one-way Gaussian
    measurements at rho * shares[0] / d each, d - 1 exponential selections at
    rho * shares[1] / (d - 1), d - 1 pairs at rho * shares[2] / (d - 1); sensitivity 1 each
    (one person moves one count of a marginal by one)."""
    monkeypatch.setattr(mechanisms._Problem, "estimate", lambda self, warm=None, iters=0: None)
    seen: list[tuple[tuple[int, ...], float]] = []
    real = mechanisms._Problem.measure

    def spy(self: mechanisms._Problem, cols: tuple[int, ...], sigma: float) -> np.ndarray:
        seen.append((cols, sigma))
        return real(self, cols, sigma)

    monkeypatch.setattr(mechanisms._Problem, "measure", spy)
    rho, shares, d = 0.4, (0.2, 0.1, 0.7), len(SHAPE)
    fit = mechanisms.mst(_data(500, 4), SHAPE, rho, SecureRandom(), shares=shares)
    assert fit.accountant.spent == pytest.approx(rho, rel=1e-9)
    assert fit.accountant.gaussian == 2 * d - 1 and fit.accountant.exponential == d - 1
    one = [s for c, s in seen if len(c) == 1]
    two = [s for c, s in seen if len(c) == 2]
    assert sum(zcdp.gaussian_rho(s) for s in one) == pytest.approx(shares[0] * rho)
    assert sum(zcdp.gaussian_rho(s) for s in two) == pytest.approx(shares[2] * rho)
    assert len(fit.measured) == d - 1 and {c for c, _ in seen if len(c) == 2} == \
        set(fit.measured)
    with pytest.raises(ValueError):
        mechanisms.mst(_data(50, 4), SHAPE, rho, SecureRandom(), shares=(0.5, 0.5, 0.5))


def test_a_public_hierarchy_is_modelled_by_its_cells_whatever_was_measured() -> None:
    data = np.array([[0], [1], [2], [3], [4], [5]])
    ones = [np.array([50.0, 40.0, 1.0, 60.0, 70.0, 0.0])]   # some rare, some not
    codes, shape, new_ones, merged, spread = mechanisms._compress(
        data, (6,), ones, 1.0, [(0, 0, 0, 0, 1, 2)], 3.0, coarse=[(0, 0, 1, 1, 2, 3)])
    assert [list(v) for v in merged[0]] == [[0, 1], [2, 3], [4], [5]]
    assert shape == [4] and list(codes[:, 0]) == [0, 0, 1, 1, 2, 3]
    assert np.allclose(new_ones[0], [90.0, 61.0, 70.0, 0.0])
    assert np.allclose(spread[0][1], [1.0, 60.0])


def _titles(n: int, seed: int) -> np.ndarray:
    """department (2), job title (4: junior and senior of each department), salary band (3)
    following the title's level."""
    rng = np.random.default_rng(seed)
    dept = rng.integers(0, 2, n)
    level = (rng.random(n) < 0.4).astype(np.int64)
    title = 2 * dept + level
    salary = np.minimum(2, level + (rng.random(n) < 0.3))
    return np.stack([dept, title, salary], 1)


@pytest.mark.slow
def test_values_are_drawn_within_their_cell_and_the_records_group() -> None:
    """The title is modelled by its level (2 cells) and drawn within the record's department:
    every sampled title belongs to its record's department and keeps its level's pay; where
    the department holds no title of the cell, any title of the cell (fail-safe)."""
    shape = (2, 4, 3)
    data = _titles(3000, 5)
    rho = zcdp.rho_for(20.0, 1e-6)
    within = {1: (0, np.array([0, 0, 1, 1]))}
    fit = mechanisms.mst(data, shape, rho, SeededRandom(3), coarse=[(), (0, 1, 0, 1), ()],
                         within=within)
    assert int(fit.domain["c1"]) == 2                        # modelled by its 2 levels
    assert fit.accountant.spent == pytest.approx(rho, rel=1e-6)
    syn = mechanisms.sample(fit, 3000, np.random.default_rng(1))
    assert (syn[:, 1] // 2 == syn[:, 0]).all()               # the title of its department
    assert report.mean_tvd(syn, data, shape, 2) < report.mean_tvd(_titles(3000, 6), data,
                                                                 shape, 2) + 0.03
    level_pay = [syn[syn[:, 1] % 2 == lv, 2].mean() for lv in (0, 1)]
    assert level_pay[1] > level_pay[0] + 0.5
    # fail-safe: department 1's titles in no group: department 0's rows get its titles,
    # department 1's (none of the cell's titles in their group) any title of their cell
    fit.within = {1: (0, np.array([0, 0, -1, -1]))}
    syn = mechanisms.sample(fit, 3000, np.random.default_rng(2))
    assert set(syn[syn[:, 0] == 0, 1]) == {0, 1} and set(syn[syn[:, 0] == 1, 1]) == {0, 1, 2, 3}
    level_pay = [syn[syn[:, 1] % 2 == lv, 2].mean() for lv in (0, 1)]
    assert level_pay[1] > level_pay[0] + 0.5
