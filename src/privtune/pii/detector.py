"""The reusable detector: build once (patterns, roster, gazetteer, optional NER), call many times.

:class:`Detector` runs every recognizer over a text, keeps the wanted ``types`` and resolves
overlaps (:func:`~privtune.pii.spans.resolve_overlaps`): the result is sorted and
non-overlapping, and a span that names a roster employee carries their id in ``subject``.

Recognizers, in order: the validated patterns (:mod:`privtune.pii.recognizers`), the roster's
names and known identifiers (:class:`~privtune.pii.roster.Roster`), people outside the roster
(:class:`~privtune.pii.recognizers.people.PeopleRecognizer`, on by default), and an optional
NER backend (:class:`~privtune.pii.recognizers.ner.NerRecognizer`).

Overlap clean-up before the merge: a URL inside an e-mail address is dropped, and a PERSON
span from the people gazetteer that lies inside a pattern span (``Mr. Park`` inside
``12 Park Lane``) is dropped, so names never swallow addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from privtune.pii.patterns import PatternDetector
from privtune.pii.recognizers import Recognizer
from privtune.pii.recognizers.ner import NerBackend, NerRecognizer
from privtune.pii.recognizers.people import PeopleRecognizer
from privtune.pii.roster import Roster
from privtune.pii.spans import EMAIL, ENTITY_TYPES, PERSON, URL, Span, resolve_overlaps


class Detector:
    """Every PII detector of privtune behind one ``detect(text)`` call."""

    def __init__(
        self,
        roster: Roster | None = None,
        *,
        patterns: PatternDetector | None = None,
        types: Iterable[str] | None = None,
        people: bool = True,
        ner: NerBackend | NerRecognizer | None = None,
        org_id_patterns: Mapping[str, str] | None = None,
    ) -> None:
        self.roster = roster
        self.patterns = patterns if patterns is not None else PatternDetector(org_id_patterns=org_id_patterns or ())
        self.types = frozenset(types) if types is not None else None
        if self.types is not None:
            unknown = sorted(self.types - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types: {', '.join(unknown)}")
        self.extra: list[Recognizer] = []
        if people and (self.types is None or PERSON in self.types):
            self.extra.append(PeopleRecognizer())
        if ner is not None:
            self.extra.append(ner if isinstance(ner, NerRecognizer) else NerRecognizer(ner))

    def detect(self, text: str) -> list[Span]:
        """Sorted, non-overlapping PII spans of ``text``."""
        if not text:
            return []
        spans = self.patterns.find(text)
        if self.roster is not None:
            spans += self.roster.find(text)
            spans += self.roster.find_known(text)
        guess: list[Span] = []
        for rec in self.extra:
            guess += rec.find(text)
        if guess:
            spans += _drop_inside(guess, [s for s in spans if s.type != PERSON])
        if self.types is not None:
            spans = [s for s in spans if s.type in self.types]
        return resolve_overlaps(_drop_urls_in_emails(spans))

    __call__ = detect

    def detect_many(self, texts: Iterable[str]) -> list[list[Span]]:
        """:meth:`detect` over several texts."""
        return [self.detect(t) for t in texts]


def _drop_inside(guesses: list[Span], anchors: list[Span]) -> list[Span]:
    if not anchors:
        return guesses
    return [g for g in guesses if not any((a.start <= g.start and g.end <= a.end) or g.overlaps(a) for a in anchors)]


def _drop_urls_in_emails(spans: list[Span]) -> list[Span]:
    emails = [s for s in spans if s.type == EMAIL]
    if not emails:
        return spans
    return [s for s in spans if s.type != URL or not any(s.overlaps(e) for e in emails)]
