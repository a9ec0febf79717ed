"""Optional NER backends (spaCy, GLiNER) behind one small interface; never required.

A backend is anything with ``entities(text) -> list[(start, end, label)]`` (the
:class:`NerBackend` protocol). :class:`NerRecognizer` maps its labels onto privtune entity
types (``PERSON``/``PER`` -> PERSON, ``GPE``/``LOC`` -> ADDRESS is *not* done: places are not
addresses) and drops the rest. :func:`load_ner_backend` opens a model that is already on this
machine: ``spacy:/path/to/model`` or ``spacy:en_core_web_sm`` (an installed package), or
``gliner:/path/to/model`` (``local_files_only``). Nothing is ever downloaded; a missing library
or model is a :class:`~privtune.errors.ConfigError`.
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


def load_ner_backend(spec: str) -> NerBackend:
    """Open ``spacy:<installed package or local path>`` or ``gliner:<local path>``."""
    kind, _, where = spec.partition(":")
    if kind not in ("spacy", "gliner") or not where:
        raise ConfigError("NER backend must be 'spacy:<model>' or 'gliner:<path>'", key="ner")
    if importlib.util.find_spec(kind) is None:
        raise ConfigError(f"NER backend '{kind}' is not installed (it is optional)", key="ner")
    if kind == "gliner":
        if not Path(where).is_dir():
            raise ConfigError("GLiNER model directory not found on this machine", key="ner")
        return GlinerBackend(where)
    if not Path(where).is_dir() and importlib.util.find_spec(where) is None:
        raise ConfigError("spaCy model is neither a local directory nor an installed package", key="ner")
    return SpacyBackend(where)
