"""The shipped example config is valid and equals the built-in defaults (docs stay true)."""

from __future__ import annotations

from pathlib import Path

from privtune.config import load_config
from privtune.pipeline.config import PipelineConfig

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_demo_config_matches_defaults() -> None:
    cfg = load_config(PipelineConfig, ROOT / "configs" / "tiny-demo.yaml")
    assert cfg == PipelineConfig()


def test_gpu_example_configs_are_valid() -> None:
    lora = load_config(PipelineConfig, ROOT / "configs" / "mistral-7b-lora.yaml")
    qlora = load_config(PipelineConfig, ROOT / "configs" / "mistral-7b-qlora.yaml")
    assert lora.train.quantization == "none" and qlora.train.quantization == "4bit"
    for cfg in (lora, qlora):
        assert cfg.train.device == "cuda" and cfg.model.base != "tiny"
        assert cfg.train.lora.target_modules == "all-linear" and cfg.dp.enabled is False
        assert cfg.train.checkpoint_every > 0 and cfg.train.lr <= 2e-4
