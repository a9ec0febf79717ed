"""The transformers token-classification NER backend, with a tiny model the test trains itself.

A 2-layer BERT (hidden size 32) and a word-level tokenizer are built from config; names are not
in the vocabulary, so they reach the model as ``[UNK]``, and a few hundred steps on templated
sentences teach it that an unknown word in a name slot is a person. Nothing is downloaded.
"""

from __future__ import annotations

import random

import pytest

from privtune.errors import ConfigError
from privtune.pii import Detector
from privtune.pii.recognizers.ner import NerRecognizer, bio_spans, load_ner_backend

TEMPLATES = [
    "please call {} today", "{} sent the form", "ask {} about the rota", "the manager spoke to {} again",
    "{} is on leave until friday", "we met {} at the office", "forward this to {} please", "{} will review the ticket",
]  # fmt: skip
NAMES = ["Zorblat", "Quimby", "Xantho", "Velmira", "Oskuro", "Trillian", "Brannoc", "Ysolde"]


def test_bio_spans_join_pieces_and_split_on_b():
    offs = [(0, 0), (0, 4), (5, 8), (8, 10), (11, 14), (15, 18), (0, 0)]
    labels = ["O", "O", "B-PER", "I-PER", "B-PER", "O", "O"]
    assert bio_spans(offs, labels) == [(5, 10, "PER"), (11, 14, "PER")]
    assert bio_spans([(0, 3), (4, 7), (8, 9)], ["PER", "PER", "O"]) == [(0, 7, "PER")]
    assert bio_spans([(0, 3), (4, 7)], ["B-PER", "I-LOC"]) == [(0, 3, "PER"), (4, 7, "LOC")]


def test_missing_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        load_ner_backend(f"transformers:{tmp_path / 'nowhere'}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    words = sorted({w for t in TEMPLATES for w in t.replace("{}", " ").split()})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")
    id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=64, num_labels=3, id2label=id2label, label2id={v: k for k, v in id2label.items()})  # fmt: skip
    model = BertForTokenClassification(cfg)
    rng = random.Random(0)
    batch_x, batch_y = [], []
    for t in TEMPLATES:
        for name in NAMES:
            words_ = t.format(name).split()
            batch_x.append([vocab.get(w, 1) for w in words_])
            batch_y.append([1 if w == name else 0 for w in words_])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        idx = rng.sample(range(len(batch_x)), 16)
        width = max(len(batch_x[i]) for i in idx)
        x = torch.tensor([batch_x[i] + [0] * (width - len(batch_x[i])) for i in idx])
        y = torch.tensor([batch_y[i] + [-100] * (width - len(batch_y[i])) for i in idx])
        loss = model(input_ids=x, attention_mask=(x != 0).long(), labels=y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    path = tmp_path_factory.mktemp("tiny-ner")
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.mark.slow
def test_transformers_backend_finds_names_it_never_saw(tiny_model):
    backend = load_ner_backend(f"transformers:{tiny_model}")
    text = "please call Pemberly today"
    assert [text[s:e] for s, e, _ in backend.entities(text)] == ["Pemberly"]
    det = Detector(None, people=False, ner=NerRecognizer(backend, labels={"PER": "PERSON"}))
    spans = det.detect("ask Kestrix about the rota")
    assert [(s.type, s.source) for s in spans] == [("PERSON", "ner")]
    assert "ask Kestrix about the rota"[spans[0].start : spans[0].end] == "Kestrix"
    assert backend.entities("") == []


def test_ner_is_off_by_default():
    assert not any(isinstance(r, NerRecognizer) for r in Detector(None).extra)
