"""The federation's privacy plan: one round is one DP-SGD step over every site's employees.

Every round each site takes each of its privacy units (employees, :mod:`privtune.dp.units`)
independently with probability ``q`` (:class:`~privtune.dp.sampler.PoissonUnitSampler`, its
own secure randomness), clips each sampled unit's LoRA gradient to ``C``
(:class:`~privtune.dp.clip.UnitClipper`) and sends the **sum** (no noise). The coordinator
adds ``N(0, (sigma C)^2)`` once to the sum over the sites and divides by the expected number
of sampled units (``q`` times all units). Adding or removing one employee anywhere changes the
sum by at most ``C``, and that employee's coin is one Poisson coin with rate ``q``: each round
is exactly one Poisson-subsampled Gaussian step of the single-site analysis, ``rounds`` of
them compose as ``rounds`` steps (:func:`privtune.dp.accountant.epsilon`). ``sigma`` is
calibrated for ``target_epsilon`` over the planned rounds at ``delta``.

Each site charges its own ledger each round it takes part in with what that round adds for
its people: the person-level epsilon after ``k`` rounds minus after ``k - 1``, ``k`` being the
rounds of the run the site has taken part in (a round it missed used none of its people), with
group privacy over the site's own largest group size, and ``delta`` on its first round only; a
site's charges for a run sum to the composed epsilon of its rounds, not to their number times
the per-round figure. A round runs with the sites connected within ``round_timeout_s`` if
they are at least :meth:`FederatedSpec.required_sites`; the coordinator's noise is ``sigma C``
whatever their number (docs/federated.md, "Dropouts").

People at several sites (``max_sites_per_person = k``): the sites cannot see who else holds a
person (each pseudonymises with its own key), so the federation declares the most sites one
person's data can sit at. Such a person is up to ``k`` units of the one federated mechanism
(one per site, each clipped to ``C`` separately): the sum moves by up to ``k C``. Every site
charges its ledger the group-privacy epsilon of ``k`` times its own largest in-site group
(:meth:`FederatedSpec.site_group_size`), so a person at two sites is counted, at that
figure, in both sites' ledgers. The guarantee for a person at ``k`` sites with ``g_i`` units at
site ``i`` is group privacy over ``sum g_i`` units of this run, which is what each site charged
when ``g_i`` equals the site's largest group (always, with one unit per employee). The two
ledgers record the **same** run: the person's loss from it is that figure once, not ``k`` times;
what neither ledger sees is the other sites' local (non-federated) runs on the same person.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from privtune.config import StrictModel
from privtune.dp.accountant import calibrate, epsilon
from privtune.dp.group import group_epsilon


class FederatedSpec(StrictModel):
    """``privtune federated`` settings (also the ServerApp's run config)."""

    rounds: int = Field(default=3, ge=1, le=10000, description="rounds (one DP step each)")
    sampling_rate: float = Field(default=0.5, gt=0, le=1, description="Poisson rate q per unit")
    target_epsilon: float | None = Field(default=8.0, gt=0, le=1000)
    noise_multiplier: float | None = Field(default=None, ge=0, le=1000,
                                           description="given instead of target_epsilon")
    delta: float = Field(default=1e-5, gt=0, lt=1)
    max_grad_norm: float = Field(default=1.0, gt=0, description="per-employee clipping bound C")
    max_examples_per_unit: int = Field(default=4, ge=1)
    max_seq_len: int = Field(default=128, ge=8, description="a site's examples are cut to this "
                             "many tokens (an example whose answer is cut off is left out)")
    accountant: Literal["rdp", "prv", "pld"] = "rdp"
    server_lr: float = Field(default=0.02, gt=0, le=1, description="coordinator's Adam step")
    secagg: bool = Field(default=True, description="SecAgg+ (the coordinator sees only the sum)")
    reconstruction_threshold: int = Field(default=2, ge=2, description="SecAgg+ shares needed")
    clipping_range: float = Field(default=64.0, gt=0,
                                  description="SecAgg+ quantisation range of a site's sum")
    round_timeout_s: float = Field(default=240.0, gt=0, le=86400, description=(
        "seconds a round waits for its sites: to be connected when it starts (then it runs "
        "with the sites present, at least min_sites), and for each SecAgg+ stage's replies"))
    min_sites: int | None = Field(default=None, ge=1, le=64, description=(
        "the fewest sites a round runs with after round_timeout_s (default: the SecAgg+ "
        "reconstruction threshold with SecAgg+, else 2); fewer stops the run (SitesMissing)"))
    max_sites_per_person: int = Field(default=1, ge=1, le=64, description="the most sites one "
                                      "person's data can be at (each site charges group "
                                      "privacy over that many of the person's units)")

    @model_validator(mode="after")
    def _check_min_sites(self) -> FederatedSpec:
        if self.secagg and self.min_sites is not None and \
                self.min_sites < self.reconstruction_threshold:
            raise ValueError(f"min_sites ({self.min_sites}) is below the SecAgg+ reconstruction "
                             f"threshold ({self.reconstruction_threshold}): SecAgg+ cannot "
                             "unmask a round with fewer sites")
        return self

    def required_sites(self) -> int:
        """The fewest sites a round runs with (:attr:`min_sites`, else the SecAgg+ threshold
        with SecAgg+, else 2)."""
        if self.min_sites is not None:
            return self.min_sites
        return max(2, self.reconstruction_threshold) if self.secagg else 2

    def site_group_size(self, own_largest_group: int) -> int:
        """The group size a site charges: its own largest group times the sites a person can
        be at."""
        return max(1, own_largest_group) * self.max_sites_per_person

    def person_epsilon(self, rounds: int, sigma: float) -> float:
        """The person-level epsilon after ``rounds`` for a person at ``max_sites_per_person``
        sites with one unit at each (the figure a global adapter's record carries)."""
        return self.epsilon_after(rounds, sigma, self.max_sites_per_person)

    def sigma(self) -> float:
        if self.noise_multiplier is not None:
            return float(self.noise_multiplier)
        assert self.target_epsilon is not None
        return calibrate(self.target_epsilon, self.sampling_rate, self.rounds, self.delta,
                         self.accountant)

    def epsilon_after(self, rounds: int, sigma: float, group_size: int = 1) -> float:
        """Person-level epsilon after ``rounds`` rounds for a group of ``group_size`` units."""
        if rounds == 0:
            return 0.0
        if group_size <= 1:
            return epsilon(sigma, self.sampling_rate, rounds, self.delta, self.accountant)
        return group_epsilon(sigma, self.sampling_rate, rounds, self.delta, group_size,
                             self.accountant)

    def round_charge(self, rnd: int, sigma: float, group_size: int = 1) -> tuple[float, float]:
        """``(epsilon, delta)`` that a site's ``rnd``-th round of a run (1-based: the rounds it
        took part in, not the coordinator's round number) adds to its ledger."""
        eps = (self.epsilon_after(rnd, sigma, group_size)
               - self.epsilon_after(rnd - 1, sigma, group_size))
        return max(0.0, eps), (self.delta if rnd == 1 else 0.0)
