"""Optional NER backends (transformers, spaCy, GLiNER) behind one small interface; never required.

A backend is anything with ``entities(text) -> list[(start, end, label)]`` (the
:class:`NerBackend` protocol). :class:`NerRecognizer` maps its labels onto privtune entity
types (``PERSON``/``PER`` -> PERSON, ``GPE``/``LOC`` -> ADDRESS is *not* done: places are not
addresses) and drops the rest. :func:`load_ner_backend` opens a model that is already on this
machine: ``spacy:/path/to/model`` or ``spacy:en_core_web_sm`` (an installed package), or
``gliner:/path/to/model`` (``local_files_only``), or ``transformers:/path/to/model``: any
Hugging Face token-classification model saved in a local directory (``config.json`` with
``id2label``, weights, a *fast* tokenizer), read with ``local_files_only=True``. Its BIO/IO
labels (``B-PER``, ``I-PER``, ``PER``) are joined into character spans by
:func:`bio_spans`; texts longer than the model's window are read in overlapping windows.
Nothing is ever downloaded; a missing library or model is a :class:`~privtune.errors.ConfigError`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from privtune.errors import ConfigError
from privtune.pii.spans import PERSON, Span

DEFAULT_LABELS: dict[str, str] = {"PERSON": PERSON, "PER": PERSON, "person": PERSON}


@runtime_checkable
class NerBackend(Protocol):
    def entities(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, label)`` character spans of the named entities in ``text``."""
        ...


class NerRecognizer:
    """Turns an NER backend's entities into privtune spans."""

    name = "ner"

    def __init__(self, backend: NerBackend, labels: Mapping[str, str] | None = None, min_score: float = 0.0) -> None:
        self.backend = backend
        self.labels = dict(DEFAULT_LABELS if labels is None else labels)
        self.types = tuple(sorted(set(self.labels.values())))

    def find(self, text: str) -> list[Span]:
        out = []
        for start, end, label in self.backend.entities(text):
            kind = self.labels.get(label)
            if kind is None or not (0 <= start < end <= len(text)):
                continue
            while end > start and text[end - 1] in ".,;:!?":
                end -= 1
            if end > start:
                out.append(Span(start, end, kind, score=0.8, source=self.name))
        return out


class SpacyBackend:
    def __init__(self, model: str) -> None:
        import spacy

        self.nlp = spacy.load(model)

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        return [(e.start_char, e.end_char, e.label_) for e in self.nlp(text).ents]


class GlinerBackend:
    def __init__(self, path: str, labels: tuple[str, ...] = ("person",), threshold: float = 0.5) -> None:
        from gliner import GLiNER

        self.model = GLiNER.from_pretrained(path, local_files_only=True)
        self.labels = list(labels)
        self.threshold = threshold

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        found = self.model.predict_entities(text, self.labels, threshold=self.threshold)
        return [(int(e["start"]), int(e["end"]), str(e["label"])) for e in found]


def bio_spans(offsets: list[tuple[int, int]], labels: list[str]) -> list[tuple[int, int, str]]:
    """Character spans from per-token labels (``O``, ``B-X``, ``I-X`` or plain ``X``).

    A ``B-`` label, or a change of entity type, starts a new span; ``I-X`` and ``X`` continue
    a span of type X (so sub-word pieces of one name join). Special tokens have empty offsets
    and are skipped.
    """
    out: list[tuple[int, int, str]] = []
    cur: list = []  # [start, end, type]
    for (s, e), label in zip(offsets, labels):
        if e <= s:
            continue
        if label in ("O", "", None):
            if cur:
                out.append((cur[0], cur[1], cur[2]))
                cur = []
            continue
        begin, _, kind = label.partition("-") if label[:2] in ("B-", "I-", "E-", "S-") else ("I", "", label)
        if cur and kind == cur[2] and begin in ("I", "E"):
            cur[1] = e
            continue
        if cur:
            out.append((cur[0], cur[1], cur[2]))
        cur = [s, e, kind]
    if cur:
        out.append((cur[0], cur[1], cur[2]))
    return out


class TransformersBackend:
    """A local Hugging Face token-classification model (``local_files_only``; CPU unless told)."""

    def __init__(self, path: str, *, max_length: int = 256, stride: int = 32, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError("the NER model needs a fast tokenizer (tokenizer.json) for character offsets", key="ner")
        self.model = AutoModelForTokenClassification.from_pretrained(path, local_files_only=True).to(device).eval()
        self.id2label = {int(k): str(v) for k, v in self.model.config.id2label.items()}
        self.max_length = min(max_length, int(getattr(self.model.config, "max_position_embeddings", max_length)))
        self.stride = stride
        self.device = device

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        if not text.strip():
            return []
        enc = self.tokenizer(
            text, return_offsets_mapping=True, truncation=True, max_length=self.max_length, stride=self.stride,
            return_overflowing_tokens=True, padding=True, return_tensors="pt",
        )  # fmt: skip
        offsets = enc.pop("offset_mapping").tolist()
        enc.pop("overflow_to_sample_mapping", None)
        with self.torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits
        found: set[tuple[int, int, str]] = set()
        for window, ids in zip(offsets, logits.argmax(-1).tolist()):
            spans = bio_spans([(int(a), int(b)) for a, b in window], [self.id2label.get(i, "O") for i in ids])
            found.update(spans)
        # windows overlap: keep the longest of overlapping same-type spans
        out: list[tuple[int, int, str]] = []
        for s, e, k in sorted(found, key=lambda x: (x[0], -(x[1] - x[0]))):
            if out and out[-1][2] == k and s < out[-1][1]:
                if e > out[-1][1]:
                    out[-1] = (out[-1][0], e, k)
                continue
            out.append((s, e, k))
        return out


def load_ner_backend(spec: str) -> NerBackend:
    """Open ``spacy:<installed package or local path>``, ``gliner:<local path>`` or
    ``transformers:<local path>``."""
    kind, _, where = spec.partition(":")
    if kind not in ("spacy", "gliner", "transformers") or not where:
        raise ConfigError("NER backend must be 'spacy:<model>', 'gliner:<path>' or 'transformers:<path>'", key="ner")
    if importlib.util.find_spec(kind) is None:
        raise ConfigError(f"NER backend '{kind}' is not installed (it is optional)", key="ner")
    if kind == "transformers":
        if not (Path(where) / "config.json").is_file():
            raise ConfigError("transformers NER model directory (with config.json) not found on this machine", key="ner")
        return TransformersBackend(where)
    if kind == "gliner":
        if not Path(where).is_dir():
            raise ConfigError("GLiNER model directory not found on this machine", key="ner")
        return GlinerBackend(where)
    if not Path(where).is_dir() and importlib.util.find_spec(where) is None:
        raise ConfigError("spaCy model is neither a local directory nor an installed package", key="ner")
    return SpacyBackend(where)
