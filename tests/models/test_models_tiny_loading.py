"""The tiny Mistral, saving/loading from local directories, and the lineage hash."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoTokenizer, MistralForCausalLM

from privtune.errors import InputError
from privtune.models.loading import load_local_model, model_dir_hash
from privtune.models.tiny import TinyModelSpec, build_tiny_model, count_params
from privtune.models.tokenizer import save_tokenizer


def test_default_tiny_model_is_a_real_small_mistral(tok_dir: Path):
    tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    model = build_tiny_model(TinyModelSpec(), tok)
    assert isinstance(model, MistralForCausalLM)
    assert 1_000_000 <= count_params(model) <= 5_000_000
    cfg = model.config
    assert (cfg.num_attention_heads, cfg.num_key_value_heads) == (4, 2)  # GQA
    assert cfg.hidden_act == "silu" and cfg.tie_word_embeddings
    assert cfg.pad_token_id == tok.pad_token_id and cfg.eos_token_id == tok.eos_token_id
    layer = model.model.layers[0]
    assert layer.self_attn.k_proj.out_features == 64  # 2 kv heads x 32
    assert {"gate_proj", "up_proj", "down_proj"} <= {n for n, _ in layer.mlp.named_children()}


def test_tiny_model_is_seeded(tok_dir: Path):
    tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    spec = TinyModelSpec(vocab_size=512, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1)
    a, b = build_tiny_model(spec, tok), build_tiny_model(spec, tok)
    c = build_tiny_model(spec.model_copy(update={"seed": 1}), tok)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


def test_spec_rejects_bad_head_counts():
    with pytest.raises(ValidationError):
        TinyModelSpec(num_attention_heads=4, num_key_value_heads=3)
    with pytest.raises(ValidationError):
        TinyModelSpec(hiden_size=64)  # extra keys are forbidden


@pytest.fixture()
def saved_model(tmp_path: Path, tok_dir: Path) -> tuple[Path, MistralForCausalLM]:
    tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    spec = TinyModelSpec(vocab_size=512, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2)
    model = build_tiny_model(spec, tok).eval()
    out = tmp_path / "m"
    model.save_pretrained(str(out))
    save_tokenizer(tok, out)
    return out, model


def test_save_load_round_trip_gives_identical_logits(saved_model):
    out, model = saved_model
    loaded, tok = load_local_model(out)
    ids = tok("Managers approve leave, Zoë.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    assert tok.chat_template and "[INST]" in tok.chat_template


def test_hub_id_is_refused_without_touching_the_network(monkeypatch, tmp_path):
    calls = []

    def no_net(*args, **kwargs):
        calls.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_net)
    monkeypatch.setattr(socket, "create_connection", no_net)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        load_local_model("mistralai/Mistral-7B-v0.1")
    assert "local directory" in str(err.value)
    assert "mistralai/Mistral-7B-v0.1" in str(err.value)
    assert calls == []


def test_not_a_model_directory(tmp_path: Path):
    with pytest.raises(InputError, match=r"config\.json"):
        load_local_model(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="safetensors") as err:
        load_local_model(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_model_dir_hash_is_stable_and_content_sensitive(saved_model):
    out, _ = saved_model
    h = model_dir_hash(out)
    assert len(h) == 64 and h == model_dir_hash(out)
    (out / "README.md").write_text("notes")  # not part of the model
    assert model_dir_hash(out) == h
    w = out / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 1
    w.write_bytes(bytes(data))
    assert model_dir_hash(out) != h
