"""``audit:`` section of the pipeline config: how hard the privacy audit probes a model.

The defaults keep the audit of the tiny demo model well under a minute on 2 CPU cores; a real
model deserves more candidates, more employees and more reference models (docs/audit-gate.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from privtune.config import StrictModel


class ExposureSpec(StrictModel):
    candidates: int = Field(500, ge=10, le=1_000_000,
                            description="candidates sampled per canary (extrapolated exposure)")
    exact_limit: int = Field(10_000, ge=0, description="rank among all candidates when the "
                             "secret space has at most this many members")


class MiaSpec(StrictModel):
    """Employee-level membership inference."""

    max_employees: int = Field(0, ge=0, description="cap per side (members, non-members); 0 = all")
    reference_models: int = Field(8, ge=0, le=64, description="LiRA reference adapters "
                                  "(complementary pairs of random halves of the employees), "
                                  "trained with the target's recipe (DP for a DP target); 0 = off")
    reference_steps: int | None = Field(None, ge=1, description="steps per reference adapter; "
                                        "None = the target's own steps (its recipe)")


class ExtractionSpec(StrictModel):
    employees: int = Field(12, ge=0, description="training employees probed (canaries always are)")
    prefixes_per_employee: int = Field(2, ge=0, description="own training examples used as prompts")
    samples: int = Field(1, ge=0, le=16, description="sampled decodings per prompt, besides greedy")
    temperature: float = Field(1.0, gt=0.0, le=2.0)
    max_new_tokens: int = Field(24, ge=4, le=256)


class PromptAttackSpec(StrictModel):
    enabled: bool = True
    targets: int = Field(3, ge=0, description="employees named in the targeted attack prompts")
    samples: int = Field(1, ge=0, le=16)
    max_new_tokens: int = Field(32, ge=4, le=256)


class AuditSpec(StrictModel):
    #: ``demo``: a lighter audit the demo runs to stay within its time budget, marked as such in
    #: its verdict; a release accepts it only where the workspace policy lists it.
    profile: Literal["full", "demo"] = "full"
    seed: int = 0
    batch_size: int = Field(64, ge=1, le=4096)
    exposure: ExposureSpec = Field(default_factory=ExposureSpec)
    mia: MiaSpec = Field(default_factory=MiaSpec)
    extraction: ExtractionSpec = Field(default_factory=ExtractionSpec)
    prompt_attacks: PromptAttackSpec = Field(default_factory=PromptAttackSpec)
