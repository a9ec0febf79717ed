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
