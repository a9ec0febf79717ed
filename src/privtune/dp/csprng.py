"""Cryptographically secure randomness for DP-SGD: the Poisson sampling coins, the cap's subsets
and the Gaussian noise.

Why not a torch or NumPy generator? DP-SGD's guarantee holds only if whoever sees the model
cannot know which units were sampled (amplification by subsampling) nor the noise that was
added. torch's CPU generator (MT19937) and NumPy's are not cryptographic: their whole state is
small (a 64-bit seed, or 2.5 KB that a few hundred outputs reveal), so a seed stored in a config
or a checkpoint, or a state recovered from outputs, replays every batch and subtracts every
noise draw. Reseeding them from the OS does not help: the stream after the seed is still
predictable from the seed. Opacus's ``secure_mode`` draws from torchcsprng (AES-CTR) for the
same reason; torchcsprng is unmaintained, so privtune does it with ``cryptography``.

:class:`SecureRandom` is a ChaCha20 keystream (RFC 8439 via OpenSSL) under a 256-bit key and a
96-bit nonce from ``os.urandom``; it takes no seed, has no state to save (pickling it is
refused) and rekeys from the OS every :data:`REKEY_BYTES` and after a ``fork``. Every draw
works on whole tensors: one ``update_into`` fills a buffer with keystream, torch turns its
64-bit words into 53-bit uniform doubles in ``[0, 1)`` and, for Gaussians, the Box-Muller
transform of pairs of them, in float64 on the target device, cast to the requested dtype at the
end (so float32 noise is a rounded float64 normal, not a normal built from 24-bit uniforms).
Box-Muller with 53-bit uniforms truncates the tails at about 8.6 sigma (probability ~1e-17).
If ``os.urandom`` fails, :class:`~privtune.errors.RandomnessUnavailable` stops the run.

:class:`SeededRandom` is the test-only twin (``dp.insecure_reproducible: true``): torch
generators seeded from ``train.seed``, with a state a checkpoint may store. A model trained with
it is marked not private (its privacy record) and the gate refuses to release it.
"""

from __future__ import annotations

import math
import os
from typing import Any, Protocol

import torch
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from privtune.errors import ConfigError, RandomnessUnavailable

KEY_BYTES = 32
NONCE_BYTES = 12
#: A fresh key from the OS after this much keystream, far before ChaCha20's 32-bit block
#: counter (2^38 bytes) could wrap.
REKEY_BYTES = 1 << 36
_MASK53 = (1 << 53) - 1
_TWO_POW_M53 = 2.0 ** -53


def os_random(n: int) -> bytes:
    """``n`` bytes from the OS, or :class:`RandomnessUnavailable` (never a weaker fallback)."""
    try:
        out = os.urandom(n)
    except (OSError, NotImplementedError) as exc:
        raise RandomnessUnavailable(
            f"the operating system's randomness (os.urandom) failed ({type(exc).__name__}): "
            "differentially private training needs it for sampling and noise, so the run "
            "stops") from None
    if len(out) != n:
        raise RandomnessUnavailable("os.urandom returned fewer bytes than asked for")
    return out


class DPRandom(Protocol):
    """Where DP-SGD's sampler and noise draw from."""

    #: True when the draws are unpredictable to anyone who reads the workspace.
    private: bool

    def uniform(self, n: int) -> torch.Tensor:
        """``n`` independent uniforms in ``[0, 1)`` (float64, CPU)."""

    def normal(self, n: int, std: float, dtype: torch.dtype,
               device: torch.device | str) -> torch.Tensor:
        """``n`` independent ``N(0, std^2)`` draws (1-D, ``dtype``, on ``device``)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint stores to continue the stream (nothing for the secure one)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class SecureRandom:
    """ChaCha20 keystream keyed from ``os.urandom``: uniforms and Gaussians in bulk. No seed."""

    private = True

    def __init__(self) -> None:
        self._rekey()

    def _rekey(self) -> None:
        key, nonce = os_random(KEY_BYTES), os_random(NONCE_BYTES)
        # cryptography's ChaCha20 takes a 16-byte "nonce": the 32-bit block counter, then the nonce
        self._cipher = Cipher(algorithms.ChaCha20(key, bytes(4) + nonce), mode=None).encryptor()
        self._used = 0
        self._pid = os.getpid()

    def __reduce__(self) -> Any:
        raise TypeError("SecureRandom has no state to save: a resumed DP run draws fresh "
                        "randomness from the OS")

    def random_bytes(self, n: int) -> bytearray:
        """``n`` bytes of keystream (a new buffer)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if self._pid != os.getpid() or self._used + n > REKEY_BYTES:
            self._rekey()  # a forked child must not repeat its parent's stream
        buf = bytearray(n)  # zeros: encrypting them in place leaves the keystream
        if n:
            self._cipher.update_into(buf, buf)
        self._used += n
        return buf

    def words(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` uniformly random 64-bit words as int64 (on ``device``)."""
        if n == 0:
            return torch.zeros(0, dtype=torch.int64, device=device)
        w = torch.frombuffer(self.random_bytes(8 * n), dtype=torch.int64)
        return w.to(device, non_blocking=False)

    def _uniform53(self, n: int, device: torch.device | str) -> torch.Tensor:
        # the top 53 bits of each word (the arithmetic shift's sign bits are masked off)
        w = self.words(n, device)
        return w.bitwise_right_shift_(11).bitwise_and_(_MASK53).to(torch.float64).mul_(_TWO_POW_M53)

    def uniform(self, n: int) -> torch.Tensor:
        return self._uniform53(n, "cpu")

    def normal(self, n: int, std: float = 1.0, dtype: torch.dtype = torch.float32,
               device: torch.device | str = "cpu") -> torch.Tensor:
        pairs = (n + 1) // 2
        u = self._uniform53(2 * pairs, device)
        u1, u2 = u[:pairs], u[pairs:]
        # Box-Muller: 1 - u1 is in (0, 1], so the log is finite
        radius = torch.log1p(u1.neg_()).mul_(-2.0).sqrt_().mul_(float(std))
        angle = u2.mul_(2.0 * math.pi)
        z = torch.empty(2 * pairs, dtype=torch.float64, device=u.device)
        torch.cos(angle, out=z[:pairs]).mul_(radius)
        torch.sin(angle, out=z[pairs:]).mul_(radius)
        return z[:n].to(dtype)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ConfigError("a DP run with secure randomness cannot continue a stored "
                              "generator state (the checkpoint came from a "
                              "dp.insecure_reproducible run)", key="dp.insecure_reproducible")


class SeededRandom:
    """Tests only (``dp.insecure_reproducible``): torch generators seeded from ``seed``.

    NOT private: whoever knows the seed replays the sampling and subtracts the noise."""

    private = False

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.sampling = torch.Generator().manual_seed(int(seed))
        self.noise = torch.Generator(device=device).manual_seed(int(seed) + 0x5EED)
        self.device = torch.device(device)

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.sampling, dtype=torch.float64)

    def normal(self, n: int, std: float = 1.0, dtype: torch.dtype = torch.float32,
               device: torch.device | str = "cpu") -> torch.Tensor:
        if torch.device(device).type != self.device.type:
            raise ValueError(f"the noise generator is on {self.device}, not {device}")
        return torch.normal(0.0, float(std), size=(n,), generator=self.noise, device=device,
                            dtype=dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"sampling": self.sampling.get_state(), "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampling.set_state(state["sampling"])
        self.noise.set_state(state["noise"])
