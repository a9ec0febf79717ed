"""The pipeline's DP recipe defaults apply key by key, whatever a config or override leaves out."""

from __future__ import annotations

import pytest

from privtune.config import load_config
from privtune.errors import ConfigError
from privtune.pipeline.config import DP_DEFAULTS, DP_TRAIN_DEFAULTS, PipelineConfig


def test_partial_sections_keep_the_recipe_defaults():
    cfg = load_config(PipelineConfig, None, ["train.steps=20", "dp.expected_batch_size=16"])
    assert cfg.train.steps == 20 and cfg.train.lr == DP_TRAIN_DEFAULTS["lr"]
    assert cfg.dp.enabled is True and cfg.dp.target_epsilon == DP_DEFAULTS["target_epsilon"]
    assert cfg.dp.expected_batch_size == 16 and cfg.dp.unit == "employee"
    assert load_config(PipelineConfig, None, ["dp.enabled=false"]).dp.enabled is False


def test_sigma_instead_of_epsilon_and_bad_keys():
    cfg = load_config(PipelineConfig, None, ["dp.noise_multiplier=1.0"])  # sigma, not epsilon
    assert cfg.dp.epsilon_goal() is None and cfg.dp.target_epsilon is None
    with pytest.raises(ConfigError, match="dp"):
        load_config(PipelineConfig, None, ["dp.noise_multiplier=1.0", "dp.target_epsilon=3"])
    with pytest.raises(ConfigError, match=r"dp\.unit"):
        load_config(PipelineConfig, None, ["dp.unit=person"])
    with pytest.raises(ConfigError, match=r"dp\.epsilon"):
        load_config(PipelineConfig, None, ["dp.epsilon=3"])


@pytest.mark.slow  # seconds of work (a training run, a subprocess, a property search or a big input)
def test_no_noise_seed_and_seeded_randomness_marks_the_record_not_private():
    from privtune.dp.plan import make_plan

    # dp.noise_seed let a config fix the noise outside tests, with no mark on the record
    with pytest.raises(ConfigError, match=r"dp\.noise_seed"):
        load_config(PipelineConfig, None, ["dp.noise_seed=1"])
    cfg = load_config(PipelineConfig, None, [])
    assert cfg.dp.insecure_reproducible is False and cfg.dp.secure
    ids = [[f"e{i}"] for i in range(50)]
    rec = make_plan(cfg.dp, ids, 10).record()
    assert rec["private"] is True and rec["insecure_reproducible"] is False
    assert "seed" not in str(sorted(rec)) and "ChaCha20" in rec["randomness"]
    test = load_config(PipelineConfig, None, ["dp.insecure_reproducible=true"])
    assert not test.dp.secure
    rec = make_plan(test.dp, ids, 10).record()
    assert rec["private"] is False and rec["insecure_reproducible"] is True
