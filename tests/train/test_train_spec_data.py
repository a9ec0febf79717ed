"""TrainSpec validation, chat encoding with the assistant-only loss mask, padding, loss."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from privtune.config import validate
from privtune.errors import ConfigError, InputError
from privtune.models.loading import load_local_tokenizer
from privtune.train.data import IGNORE_INDEX, collate, encode_example, encode_examples
from privtune.train.loss import sequence_mean_loss
from privtune.train.spec import LoraSpec, TrainSpec


def test_spec_defaults_and_validation():
    s = TrainSpec()
    assert s.lora == LoraSpec() and s.lora.target_modules == "all-linear"
    assert (s.lora.r, s.lora.alpha, s.lora.dropout) == (8, 16, 0.05)
    for bad in ({"steps": 0}, {"lr": 0}, {"batch_size": -1}, {"schedule": "step"},
                {"warmup_steps": 5, "steps": 5}, {"lora": {"r": 0}}, {"lora": {"target_modules": []}}):
        with pytest.raises(ValidationError):
            TrainSpec(**bad)
    with pytest.raises(ConfigError, match=r"lora\.rank"):
        validate(TrainSpec, {"lora": {"rank": 4}})
    assert TrainSpec(lora={"target_modules": ["q_proj", "v_proj"]}).lora.target_modules == [
        "q_proj", "v_proj"]


@pytest.fixture(scope="module")
def tok(tiny_tokenizer_dir):
    return load_local_tokenizer(tiny_tokenizer_dir)


def _ex(*turns: tuple[str, str]) -> dict:
    return {"id": "x", "kind": "t", "employee_ids": ["E1"],
            "messages": [{"role": r, "content": c} for r, c in turns]}


def test_loss_mask_covers_exactly_the_answer_and_eos(tok):
    ex = _ex(("system", "Be brief."), ("user", "Where does Zoë Ñúñez work?"),
             ("assistant", "Zoë Ñúñez works in Logistics, Building 7."))
    enc = encode_example(tok, ex, 256)
    assert len(enc.input_ids) == len(enc.labels)
    labelled = [i for i, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE_INDEX]
    assert labelled == [lab for lab in enc.labels if lab != IGNORE_INDEX]
    # one contiguous span at the end
    first = next(k for k, lab in enumerate(enc.labels) if lab != IGNORE_INDEX)
    assert all(lab != IGNORE_INDEX for lab in enc.labels[first:])
    assert tok.decode(labelled).strip() == "Zoë Ñúñez works in Logistics, Building 7.</s>"
    assert labelled[-1] == tok.eos_token_id
    prompt = tok.decode(enc.input_ids[:first])
    assert prompt.startswith("<s>[INST]") and prompt.endswith("[/INST]")


def test_multi_turn_masks_every_answer(tok):
    ex = _ex(("user", "Q1?"), ("assistant", "A one."), ("user", "Q2?"), ("assistant", "A two."))
    enc = encode_example(tok, ex, 256)
    spans, cur = [], []
    for i, lab in zip(enc.input_ids, enc.labels):
        if lab != IGNORE_INDEX:
            cur.append(i)
        elif cur:
            spans.append(cur)
            cur = []
    spans.append(cur)
    assert [tok.decode(s).strip() for s in spans if s] == ["A one.</s>", "A two.</s>"]


def test_truncation_and_dropping(tok):
    long_q = "word " * 200
    ex = _ex(("user", long_q), ("assistant", "Yes."))
    enc = encode_example(tok, ex, 32)
    assert len(enc.input_ids) == 32 and enc.n_labels == 0
    kept, dropped = encode_examples(tok, [ex, _ex(("user", "Hi"), ("assistant", "Yes."))], 32)
    assert (len(kept), dropped) == (1, 1)


def test_bad_examples_name_the_row_not_the_content(tok):
    with pytest.raises(InputError, match="row 3") as err:
        encode_example(tok, _ex(("user", "secret Jane Doe")), 64, index=3)
    assert "Jane" not in str(err.value)
    with pytest.raises(InputError):
        encode_example(tok, _ex(("boss", "x"), ("assistant", "y")), 64)
    with pytest.raises(InputError) as err:
        encode_example(tok, _ex(("assistant", "Jane Doe"), ("assistant", "y")), 64)
    assert "Jane" not in str(err.value)


def test_collate_pads_right(tok):
    a = encode_example(tok, _ex(("user", "Hi"), ("assistant", "Yes.")), 64)
    b = encode_example(tok, _ex(("user", "A longer question here"), ("assistant", "No.")), 64)
    batch = collate([a, b], tok.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    n = len(a.input_ids)
    assert batch["attention_mask"][0].sum() == n
    assert (batch["input_ids"][0, n:] == tok.pad_token_id).all()
    assert (batch["labels"][0, n:] == IGNORE_INDEX).all()


def test_loss_is_mean_of_per_sequence_means():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.full((2, 6), IGNORE_INDEX)
    labels[0, 1:] = torch.tensor([1, 2, 3, 4, 5])  # 5 labelled tokens
    labels[1, 5] = 7  # 1 labelled token
    ce = torch.nn.functional.cross_entropy
    s0 = ce(logits[0, :-1], labels[0, 1:])
    s1 = ce(logits[1, 4:5], labels[1, 5:6])
    assert torch.allclose(sequence_mean_loss(logits, labels), (s0 + s1) / 2)
