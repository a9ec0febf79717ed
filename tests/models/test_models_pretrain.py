"""Pre-training and caching of the tiny base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from privtune.errors import InputError
from privtune.models.loading import load_local_model
from privtune.models.pretrain import MARKER, TinyBaseSpec, base_metadata, ensure_tiny_base


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, texts: list[str], small_base: TinyBaseSpec):
    cache = tmp_path_factory.mktemp("bases")
    calls: list[tuple[int, int, dict]] = []
    d = ensure_tiny_base(texts, small_base, cache, progress=lambda s, t, m: calls.append((s, t, m)))
    return cache, d, calls


@pytest.mark.slow  # pre-trains a tiny base
def test_pretraining_lowers_the_loss_and_reports_progress(built, small_base):
    _, d, calls = built
    assert [c[0] for c in calls] == list(range(1, small_base.steps + 1))
    assert all(c[1] == small_base.steps for c in calls)
    first, last = calls[0][2]["loss"], calls[-1][2]["loss"]
    assert last < first - 2.0
    meta = base_metadata(d)
    assert meta["loss_end"] < meta["loss_start"]


@pytest.mark.slow  # pre-trains a tiny base
def test_cached_base_is_a_complete_local_model_dir(built, small_base):
    cache, d, _ = built
    assert d.parent == cache
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 MARKER):
        assert (d / name).is_file()
    assert [p.name for p in cache.iterdir()] == [d.name]  # no temp dir left behind
    model, tok = load_local_model(d)
    assert model.config.model_type == "mistral"
    ids = tok("Employees must submit", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()
    assert json.loads((d / MARKER).read_text())["spec"] == small_base.model_dump(mode="json")


@pytest.mark.slow  # pre-trains a tiny base
def test_cache_is_reused_without_training(built, texts, small_base):
    cache, d, _ = built
    calls = []
    again = ensure_tiny_base(texts, small_base, cache, progress=lambda *a: calls.append(a))
    assert again == d and calls == []


@pytest.mark.slow  # pre-trains a tiny base
def test_other_texts_or_spec_get_another_key(built, texts, small_base):
    from privtune.models.pretrain import cache_key

    assert cache_key(texts, small_base) == built[1].name
    assert cache_key(texts[:-1], small_base) != built[1].name
    assert cache_key(texts, small_base.model_copy(update={"seed": 1})) != built[1].name


@pytest.mark.slow  # pre-trains a tiny base
def test_incomplete_cache_entry_is_rebuilt(tmp_path: Path, texts, small_base):
    from privtune.models.pretrain import cache_key

    spec = small_base.model_copy(update={"steps": 2, "warmup": 0})
    broken = tmp_path / cache_key(texts, spec)
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # crashed copy: no marker, no weights
    calls = []
    d = ensure_tiny_base(texts, spec, tmp_path, progress=lambda *a: calls.append(a))
    assert d == broken and len(calls) == 2 and (d / MARKER).is_file()


def test_bad_inputs(small_base):
    with pytest.raises(InputError):
        ensure_tiny_base(["", "  "], small_base, Path("/nonexistent-cache"))
    with pytest.raises(ValueError):
        TinyBaseSpec(seq_len=512)  # longer than max_position_embeddings
