"""Offline mode and the byte-level BPE tokenizer with its Mistral chat template."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer

from privtune.models.tokenizer import SPECIAL_TOKENS, train_tokenizer

MSGS = [
    {"role": "system", "content": "You answer HR questions."},
    {"role": "user", "content": "How many leave days?"},
    {"role": "assistant", "content": "Twenty days."},
]


def test_tokenizer_loads_with_autotokenizer_and_has_special_tokens(tok_dir: Path):
    tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    for t in SPECIAL_TOKENS:
        ids = tok.convert_tokens_to_ids([t])
        assert (ids[0] is not None and ids[0] != tok.unk_token_id) or t == "<unk>"
        assert tok(t, add_special_tokens=False).input_ids == ids  # one token each
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    assert len(tok) <= 512
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    assert "[INST]" in cfg["chat_template"]


def test_round_trip_of_arbitrary_unicode_and_unseen_names(tok_dir: Path):
    tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    samples = [
        "Zoë Ñúñez-Øberg joined on 2021-03-04.",
        "李小龍, Σωκράτης, Владимир Иванов, محمد",
        "emoji 🎉👩🏽‍💻 tabs\tand\nnewlines  double  spaces ",
        "Xyzzy Qwertyuiop-Blorg",
        "",
    ]
    for s in samples:
        ids = tok(s, add_special_tokens=False).input_ids
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == s
        # plain encoding prepends <s>, like Mistral's tokenizer
        with_bos = tok(s).input_ids
        assert with_bos[0] == tok.bos_token_id
        assert tok.decode(with_bos, skip_special_tokens=True) == s


def test_training_is_deterministic(tmp_path: Path, texts: list[str]):
    train_tokenizer(texts, 400, tmp_path / "a")
    train_tokenizer(texts, 400, tmp_path / "b")
    assert (tmp_path / "a/tokenizer.json").read_bytes() == (tmp_path / "b/tokenizer.json").read_bytes()


def test_chat_template_is_mistral_style(tok_dir: Path):
    tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    full = tok.apply_chat_template(MSGS, tokenize=False)
    assert full == "<s>[INST] You answer HR questions.\n\nHow many leave days? [/INST] Twenty days.</s>"
    prompt = tok.apply_chat_template(MSGS[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("[/INST]") and full.startswith(prompt)
    multi = tok.apply_chat_template(
        MSGS[1:] + [{"role": "user", "content": "And sick days?"}], tokenize=False
    )
    assert multi.count("[INST]") == 2 and multi.count("</s>") == 1
