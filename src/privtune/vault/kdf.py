"""Argon2id cost parameters: one record for the vault's passphrase KEK and for API-key hashes.

``RFC9106`` (RFC 9106's second recommended option: 3 passes over 64 MiB, 4 lanes) is the
default everywhere. A caller that wants other costs passes an ``Argon2Params`` explicitly
(``KekSpec(kdf=...)``, ``init_workspace(..., kdf=...)``, ``hash_key(..., params=...)``); the
test suite does so with cheap parameters from its fixtures. Nothing reads a cost from the
environment. The parameters are stored with what they protect (the ``keks`` row of a
passphrase KEK, the encoded ``$argon2id$`` hash of an API key), so opening needs no setting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_kib: int
    parallelism: int

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise ValueError("Argon2id needs t >= 1, p >= 1 and at least 8 KiB of memory per lane")


#: The production cost (RFC 9106, second recommended option).
RFC9106 = Argon2Params(time_cost=3, memory_kib=65536, parallelism=4)
#: What a call without explicit parameters uses. Production code never changes it; the test
#: suite's fixtures may replace it for runs that cannot pass an argument (the in-process CLI).
DEFAULT = RFC9106


def resolve(params: Argon2Params | None) -> Argon2Params:
    """``params``, or the module default when None (looked up at call time)."""
    return DEFAULT if params is None else params
