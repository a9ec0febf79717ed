"""The Detector: sorted non-overlapping output on any text, type filters, the NER plug point."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.errors import ConfigError
from privtune.pii import ENTITY_TYPES, Detector
from privtune.pii.recognizers.ner import NerRecognizer, load_ner_backend
from privtune.pii.spans import HIPAA_CATEGORY, PRESIDIO_ENTITIES

FRAGMENTS = [
    "Maria Garcia", "maria.garcia@acme.com", "https://acme.com/x", "(415) 372-0134", "+44 20 7946 0958",
    "123-45-6789", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "10.0.0.1", "2001:db8::1",
    "E12345", "March 8, 2023", "$85,000", "12 Main Street", "PO Box 12", "order #48213", "v2.3.1",
    "Mr. Okafor", "my husband Tom", " ", ", ", ". ", "\n", "and", "@", "/", "1", "-",
]  # fmt: skip


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12), st.text(max_size=20))
def test_spans_are_sorted_non_overlapping_and_in_bounds(parts: list[str], noise: str) -> None:
    text = "".join(parts) + noise
    spans = Detector().detect(text)
    assert spans == sorted(spans)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    assert all(0 <= s.start < s.end <= len(text) and s.type in ENTITY_TYPES for s in spans)


def test_every_type_is_mapped_to_hipaa_and_presidio() -> None:
    assert set(HIPAA_CATEGORY) == set(ENTITY_TYPES) == set(PRESIDIO_ENTITIES)


def test_types_filter_and_unknown_types() -> None:
    text = "Mr. Okafor paid $85,000 on March 8, 2023."
    assert [s.type for s in Detector(types=["MONEY"]).detect(text)] == ["MONEY"]
    with pytest.raises(ValueError, match="NOPE"):
        Detector(types=["NOPE"])


class FakeBackend:
    """An NER backend that tags one known word, to test the interface without a model."""

    def __init__(self) -> None:
        self.calls = 0

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        self.calls += 1
        out = []
        i = text.find("Zyx")
        if i >= 0:
            out.append((i, i + 4, "PER"))  # includes the trailing '.' that the recognizer trims
        j = text.find("Paris")
        if j >= 0:
            out.append((j, j + 5, "GPE"))  # unmapped label: dropped
        return out


def test_ner_backend_spans_are_mapped_and_merged() -> None:
    backend = FakeBackend()
    det = Detector(ner=backend, people=False)
    text = "Met Zyx. in Paris on March 8, 2023."
    assert [(text[s.start : s.end], s.type, s.source) for s in det.detect(text)] == [
        ("Zyx", "PERSON", "ner"), ("March 8, 2023", "DATE", "date")]
    assert backend.calls == 1
    custom = NerRecognizer(backend, labels={"GPE": "ADDRESS"})
    assert [text[s.start : s.end] for s in custom.find(text)] == ["Paris"]


@pytest.mark.parametrize("spec", ["spacy", "stanza:x", "gliner:/nowhere/model", "spacy:/nowhere/model"])
def test_ner_backend_is_optional_and_never_downloaded(spec: str) -> None:
    with pytest.raises(ConfigError):
        load_ner_backend(spec)
