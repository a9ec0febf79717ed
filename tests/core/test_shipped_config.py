"""The shipped example config is valid and equals the built-in defaults (docs stay true)."""

from __future__ import annotations

from pathlib import Path

from privtune.config import load_config
from privtune.pipeline.config import PipelineConfig

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_demo_config_matches_defaults() -> None:
    cfg = load_config(PipelineConfig, ROOT / "configs" / "tiny-demo.yaml")
    assert cfg == PipelineConfig()
