"""Fixtures for the federation tests: a small pre-trained tiny base (generic text only)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from privtune.models.pretrain import TinyBaseSpec, ensure_tiny_base
from privtune.models.tiny import TinyModelSpec
from privtune.netguard import enable_offline_mode

enable_offline_mode()

FED_MODEL = TinyModelSpec(vocab_size=512, hidden_size=64, intermediate_size=128,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=256)


@pytest.fixture(scope="session")
def fed_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = random.Random(5)
    words = ["employees", "managers", "leave", "policy", "request", "ticket", "payroll", "the",
             "team", "must", "may", "submit", "days", "benefits", "office", "category"]
    texts = [" ".join(r.choice(words) for _ in range(r.randint(10, 24))).capitalize() + "."
             for _ in range(120)]
    spec = TinyBaseSpec(model=FED_MODEL, steps=20, batch_size=8, seq_len=64, warmup=2)
    return ensure_tiny_base(texts, spec, tmp_path_factory.mktemp("fedbase"))
