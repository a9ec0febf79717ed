"""Fixtures for privtune.train tests: a small pre-trained base and a synthetic colour task."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from privtune.models.pretrain import TinyBaseSpec, ensure_tiny_base
from privtune.models.tiny import TinyModelSpec
from privtune.models.tokenizer import train_tokenizer
from privtune.netguard import enable_offline_mode

enable_offline_mode()

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]


def colour_example(n: int) -> dict:
    """'What is the colour of item N?' -> a deterministic answer (no personal data)."""
    return {
        "id": f"item-{n}",
        "kind": "colour",
        "employee_ids": [],
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"What is the colour of item {n}?"},
            {"role": "assistant", "content": f"Item {n} is {COLOURS[n % len(COLOURS)]}."},
        ],
    }


def _texts(n: int = 150, seed: int = 1) -> list[str]:
    r = random.Random(seed)
    words = ["employees", "managers", "leave", "policy", "request", "approve", "training",
             "review", "the", "team", "must", "may", "submit", "days", "salary", "office"]
    return [" ".join(r.choice(words) for _ in range(r.randint(12, 30))).capitalize() + "."
            for _ in range(n)]


TINY_MODEL = TinyModelSpec(vocab_size=512, hidden_size=128, intermediate_size=256,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           max_position_embeddings=128)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pre-trained tiny base (tens of CPU seconds: only ``slow`` tests may use it)."""
    spec = TinyBaseSpec(model=TINY_MODEL, steps=80, batch_size=8, seq_len=64, warmup=4)
    return ensure_tiny_base(_texts(), spec, tmp_path_factory.mktemp("bases"))


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tokenizer ``tiny_base`` is built with (same texts, same vocabulary size: the same
    deterministic BPE training), without pre-training a model: for tests of the chat encoding."""
    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(_texts(), TINY_MODEL.vocab_size, out)
    return out


@pytest.fixture(scope="session")
def colour_data() -> tuple[list[dict], list[dict]]:
    data = [colour_example(n) for n in range(120)]
    random.Random(0).shuffle(data)
    return data[:96], data[96:]
