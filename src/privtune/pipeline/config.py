"""The pipeline config: one validated document, flowing one way from YAML to every stage.

``configs/tiny-demo.yaml`` spells out the defaults. Each section belongs to one stage:
``company`` (synthetic data, demo only), ``dataset``, ``model``, ``train``, ``dp``
(differential privacy of the training run, :mod:`privtune.dp`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from privtune.attacks.canaries import CanarySpec
from privtune.attacks.spec import AuditSpec
from privtune.config import StrictModel
from privtune.datasets.templates import TemplatesSpec
from privtune.dp.config import DPSpec
from privtune.gate.policy import GatePolicy
from privtune.models.pretrain import TinyBaseSpec
from privtune.train.spec import TrainSpec

TINY = "tiny"

#: The pipeline trains with employee-level DP by default (docs/dp.md). The DP recipe: few
#: (30), large (64 units expected: about a quarter of the demo's units) noisy steps, and a small
#: adapter (LoRA r=4 on every linear projection, no dropout): the noise's norm grows with the
#: square root of the trainable parameters, the signal does not (r=1, or r=2 on q/v only, were
#: measured and learned less, even without DP: docs/dp.md). ``dataset.tasks`` defaults to
#: population tasks under DP.
DP_TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 30, "batch_size": 64, "lr": 0.01, "warmup_steps": 2, "eval_every": 10,
    "lora": {"r": 4, "alpha": 16.0, "dropout": 0.0, "target_modules": "all-linear"}}
DP_DEFAULTS: dict[str, Any] = {
    "enabled": True, "unit": "employee", "target_epsilon": 8.0, "expected_batch_size": 64,
    "max_examples_per_unit": 2, "multi_employee": "drop"}


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
    tasks: list[Literal["ticket_triage", "policy_qa", "employee_fact"]] | None = Field(
        None, min_length=1, description=(
            "the kinds of examples to train on; null: the recipe's default, population tasks "
            "(ticket_triage, policy_qa) with DP, every kind without (employee_fact, the "
            "per-employee facts, is the non-private memorising baseline)"))
    third_parties: Literal["placeholder", "surrogate"] = Field(
        "placeholder", description=(
            "a colleague, manager or relative named in a ticket: a non-linkable placeholder "
            "('[COLLEAGUE]', '[PERSON]'; default), or the de-identified text's consistent "
            "surrogate, which puts that person's data in the author's unit too (group size)"))


class DataRefs(StrictModel):
    """Which vault objects ``privtune train`` reads (``name`` or ``name@version``)."""

    train: str = "trainset"
    val: str = "valset"


class ModelSection(StrictModel):
    """The base model: ``tiny`` (built and pre-trained locally, cached) or a local HF directory."""

    base: str = Field(TINY, description="'tiny' or the path of a local Hugging Face model directory")
    tiny: TinyBaseSpec = Field(default_factory=TinyBaseSpec)


class ExportSpec(StrictModel):
    """The user's export (``privtune run``): where it is and, optionally, its schema mapping."""

    dir: str | None = Field(None, description="the export directory (relative: to the recipe file)")
    mapping: str | None = Field(None, description="schema mapping YAML (default: "
                                "EXPORT/privtune-mapping.yaml if present, else inferred)")


class RunSpec(StrictModel):
    """What ``privtune run`` does after the audit, and what it names the adapter."""

    release: bool = Field(True, description="release and verify the model when the gate passes")
    adapter_name: str = Field("adapter", min_length=1, description="the adapter's vault name")
    deid_policy: str | None = Field(None, description="de-identification policy YAML for the scan "
                                    "and deidentify stages (null: the shipped deid-policy)")


class PipelineConfig(StrictModel):
    export: ExportSpec = Field(default_factory=ExportSpec)
    run: RunSpec = Field(default_factory=RunSpec)
    company: CompanySpec = Field(default_factory=CompanySpec)
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    data: DataRefs = Field(default_factory=DataRefs)
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainSpec = Field(default_factory=lambda: TrainSpec(**DP_TRAIN_DEFAULTS))
    dp: DPSpec = Field(default_factory=lambda: DPSpec(**DP_DEFAULTS))
    audit: AuditSpec = Field(default_factory=AuditSpec)
    gate: GatePolicy = Field(default_factory=GatePolicy)

    @model_validator(mode="before")
    @classmethod
    def _recipe_defaults(cls, data: Any) -> Any:
        """The DP recipe's values are the defaults of every key a ``train:`` / ``dp:`` section
        (or an override such as ``train.steps=20``) leaves out, not only of absent sections."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, defaults in (("train", DP_TRAIN_DEFAULTS), ("dp", DP_DEFAULTS)):
            section = data.get(key)
            if isinstance(section, dict):
                if key == "dp" and section.get("noise_multiplier") is not None:
                    defaults = {k: v for k, v in defaults.items() if k != "target_epsilon"}
                merged = {**defaults, **section}
                for k, v in defaults.items():  # one level down too (train.lora)
                    if isinstance(v, dict) and isinstance(section.get(k), dict):
                        merged[k] = {**v, **section[k]}
                data[key] = merged
        return data
