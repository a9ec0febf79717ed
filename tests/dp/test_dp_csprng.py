"""The DP generator: a ChaCha20 keystream keyed from the OS, no seed, no state, sound uniforms and
Gaussians in bulk, a typed error when the OS has no randomness."""

from __future__ import annotations

import inspect
import math
import pickle

import pytest
import torch

from privtune.dp import csprng
from privtune.dp.csprng import SecureRandom, SeededRandom
from privtune.errors import ConfigError, RandomnessUnavailable, ResourceError

scipy_stats = pytest.importorskip("scipy.stats")


def test_uniforms_are_53_bit_doubles_in_0_1():
    g = SecureRandom()
    u = g.uniform(200_000)
    assert u.dtype == torch.float64 and u.device.type == "cpu"
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    n = u.numel()
    assert abs(float(u.mean()) - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(float(u.var()) - 1 / 12) < 0.002
    assert scipy_stats.kstest(u.numpy(), "uniform").pvalue > 1e-4
    # the low bits are used: more distinct values than float32 could hold in [0, 1)
    assert bool(((u * 2.0 ** 24) % 1 != 0).any())


def test_words_to_uniforms_take_the_top_53_bits_whatever_the_sign(monkeypatch):
    g = SecureRandom()
    words = [0, 1 << 11, (1 << 64) - 1, 1 << 63, (1 << 11) - 1]
    raw = b"".join(w.to_bytes(8, "little") for w in words)
    monkeypatch.setattr(g, "random_bytes", lambda n: bytearray(raw[:n]))
    u = g.uniform(len(words)).tolist()
    assert u == [0.0, 2.0 ** -53, 1 - 2.0 ** -53, 0.5, 0.0]


def test_gaussians_pass_a_ks_test_and_have_the_asked_std():
    g = SecureRandom()
    z = g.normal(200_001, 1.0, torch.float64)
    assert z.shape == (200_001,) and z.dtype == torch.float64
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n)
    assert abs(float(z.std()) - 1.0) < 5 / math.sqrt(2 * n)
    assert scipy_stats.kstest(z.numpy(), "norm").pvalue > 1e-4
    # tails are there (Box-Muller over 53-bit uniforms reaches ~8.6 sigma)
    assert float(z.abs().max()) > 3.5
    w = g.normal(100_000, 2.5, torch.float32)
    assert w.dtype == torch.float32
    assert abs(float(w.std()) - 2.5) < 5 * 2.5 / math.sqrt(2 * 100_000)
    assert scipy_stats.kstest((w.double() / 2.5).numpy(), "norm").pvalue > 1e-4
    assert g.normal(0, 1.0).numel() == 0 and g.normal(1, 1.0).numel() == 1


def test_two_generators_and_two_draws_differ():
    a, b = SecureRandom(), SecureRandom()
    x, y = a.normal(1000, 1.0), b.normal(1000, 1.0)
    assert not torch.equal(x, y)
    assert not torch.equal(x, a.normal(1000, 1.0))
    assert a.random_bytes(64) != b.random_bytes(64)


def test_no_seed_is_accepted_and_no_state_can_be_saved():
    assert list(inspect.signature(SecureRandom).parameters) == []
    with pytest.raises(TypeError):
        SecureRandom(0)  # type: ignore[call-arg]
    g = SecureRandom()
    assert g.private is True and g.state_dict() == {}
    with pytest.raises(TypeError, match="no state to save"):
        pickle.dumps(g)
    with pytest.raises(TypeError):
        torch.save({"rng": g}, "/dev/null")
    with pytest.raises(ConfigError, match="insecure_reproducible"):
        g.load_state_dict({"sampling": torch.zeros(8, dtype=torch.uint8)})
    g.load_state_dict({})  # a secure run's (empty) state


def test_os_randomness_failure_is_a_typed_error(monkeypatch):
    def broken(n: int) -> bytes:
        raise OSError("no entropy source")

    monkeypatch.setattr(csprng.os, "urandom", broken)
    with pytest.raises(RandomnessUnavailable, match=r"os\.urandom") as e:
        SecureRandom()
    assert isinstance(e.value, ResourceError) and e.value.exit_code == 10
    monkeypatch.setattr(csprng.os, "urandom", lambda n: b"\0" * (n - 1))
    with pytest.raises(RandomnessUnavailable):
        csprng.os_random(32)


def test_rekeys_from_the_os_after_a_fork_and_after_the_byte_limit(monkeypatch):
    g = SecureRandom()
    first = g._cipher
    g.random_bytes(16)
    assert g._cipher is first
    monkeypatch.setattr(csprng.os, "getpid", lambda: -1)  # as seen from a forked child
    g.random_bytes(16)
    assert g._cipher is not first
    second = g._cipher
    monkeypatch.setattr(csprng, "REKEY_BYTES", 100)
    g.random_bytes(64)
    assert g._cipher is second
    g.random_bytes(64)  # 128 > 100
    assert g._cipher is not second and g._used == 64


def test_seeded_generator_is_reproducible_and_marked_not_private():
    a, b = SeededRandom(7), SeededRandom(7)
    assert a.private is False
    assert torch.equal(a.uniform(50), b.uniform(50))
    assert torch.equal(a.normal(50, 1.0), b.normal(50, 1.0))
    c = SeededRandom(0)
    c.load_state_dict(a.state_dict())
    assert torch.equal(a.normal(10, 1.0), c.normal(10, 1.0))
