"""Fixtures for privtune.models tests: a small non-personal HR corpus and small specs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from privtune.models.pretrain import TinyBaseSpec
from privtune.models.tiny import TinyModelSpec
from privtune.netguard import enable_offline_mode

enable_offline_mode()

_SUBJ = ["Employees", "Managers", "New hires", "Contractors", "Team leads", "Supervisors"]
_VERB = ["must submit", "may request", "should review", "are required to complete", "can apply for"]
_OBJ = ["annual leave requests", "the expense report", "overtime compensation",
        "a performance review", "the training plan", "parental leave", "remote work plans"]
_WHEN = ["before the end of each month", "within ten working days", "once per quarter",
         "during the probation period", "as described in the handbook"]


def policy_texts(n: int = 120, seed: int = 0) -> list[str]:
    """Generic HR policy language (no personal data)."""
    r = random.Random(seed)
    return [
        f"Section {i % 20 + 1}. "
        + " ".join(f"{r.choice(_SUBJ)} {r.choice(_VERB)} {r.choice(_OBJ)} {r.choice(_WHEN)}."
                   for _ in range(r.randint(2, 4)))
        for i in range(n)
    ]


SMALL_MODEL = TinyModelSpec(
    vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
)
SMALL_BASE = TinyBaseSpec(model=SMALL_MODEL, steps=30, batch_size=8, seq_len=64, warmup=3)


@pytest.fixture(scope="session")
def small_base() -> TinyBaseSpec:
    return SMALL_BASE


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return policy_texts()


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> Path:
    from privtune.models.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    train_tokenizer(texts, 512, d)
    return d
