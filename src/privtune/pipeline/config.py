"""The pipeline config: one validated document, flowing one way from YAML to every stage.

``configs/tiny-demo.yaml`` spells out the defaults. Each section belongs to one stage:
``company`` (synthetic data, demo only), ``dataset``, ``model``, ``train``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from privtune.attacks.canaries import CanarySpec
from privtune.attacks.spec import AuditSpec
from privtune.config import StrictModel
from privtune.gate.policy import GatePolicy
from privtune.datasets.templates import TemplatesSpec
from privtune.models.pretrain import TinyBaseSpec
from privtune.train.spec import TrainSpec

TINY = "tiny"


class CompanySpec(StrictModel):
    """The synthetic company the demo generates."""

    employees: int = Field(300, ge=5, le=200_000)
    seed: int = 7
    format: Literal["csv", "json", "parquet"] = "csv"


class DatasetSpec(StrictModel):
    """How training examples are built and split."""

    val_fraction: float = Field(0.2, gt=0.0, lt=0.9, description="share of employees held out")
    seed: int = 0
    templates: TemplatesSpec = Field(default_factory=TemplatesSpec)
    canaries: CanarySpec = Field(default_factory=CanarySpec)


class DataRefs(StrictModel):
    """Which vault objects ``privtune train`` reads (``name`` or ``name@version``)."""

    train: str = "trainset"
    val: str = "valset"


class ModelSection(StrictModel):
    """The base model: ``tiny`` (built and pre-trained locally, cached) or a local HF directory."""

    base: str = Field(TINY, description="'tiny' or the path of a local Hugging Face model directory")
    tiny: TinyBaseSpec = Field(default_factory=TinyBaseSpec)


class PipelineConfig(StrictModel):
    company: CompanySpec = Field(default_factory=CompanySpec)
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    data: DataRefs = Field(default_factory=DataRefs)
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainSpec = Field(default_factory=TrainSpec)
    audit: AuditSpec = Field(default_factory=AuditSpec)
    gate: GatePolicy = Field(default_factory=GatePolicy)
