"""The reusable detector: build once (patterns, roster, gazetteer, optional NER), call many times.

:class:`Detector` runs every recognizer over a text, keeps the wanted ``types`` and resolves
overlaps (:func:`~privtune.pii.spans.resolve_overlaps`): the result is sorted and
non-overlapping, and a span that names a roster employee carries their id in ``subject``.

Recognizers, in order: the validated patterns (:mod:`privtune.pii.recognizers`; phones in the
national formats of ``phone_regions``), the roster's names and known identifiers
(:class:`~privtune.pii.roster.Roster`), ids shaped like the roster's ids
(:class:`~privtune.pii.recognizers.org_id.EmployeeIdShapeRecognizer`), people outside the roster
(:class:`~privtune.pii.recognizers.people.PeopleRecognizer`, on by default), and an optional
NER backend (:class:`~privtune.pii.recognizers.ner.NerRecognizer`).

Overlap clean-up before the merge: a URL inside an e-mail address is dropped, and a PERSON
span from the people gazetteer that lies inside a pattern span (``Mr. Park`` inside
``12 Park Lane``) is dropped, so names never swallow addresses. Both in O(n log n).

A long text (over :data:`WINDOW_CHARS`) is read in windows cut at whitespace, each with
:data:`WINDOW_CONTEXT` characters of context on both sides; a window keeps the spans that start
in its own part, so memory stays bounded by the window (a 50 MB review used 3.4 GB) and
:meth:`Detector.iter_detect` yields spans as it goes. A span is never longer than the context,
so every span is found whole by the window it starts in.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from privtune.pii.patterns import PatternDetector
from privtune.pii.recognizers import Recognizer
from privtune.pii.recognizers.ner import NerBackend, NerRecognizer
from privtune.pii.recognizers.org_id import EmployeeIdShapeRecognizer
from privtune.pii.recognizers.people import PeopleRecognizer
from privtune.pii.recognizers.person_cues import PersonCueRecognizer, coordinated, repeated
from privtune.pii.recognizers.phone import DEFAULT_REGIONS
from privtune.pii.roster import Roster
from privtune.pii.spans import EMAIL, EMPLOYEE_ID, ENTITY_TYPES, PERSON, URL, Span, resolve_overlaps

_ESCAPES = re.compile(r"\\[nrt]")



def _unescape(m: re.Match[str]) -> str:
    """``\\n`` and ``\\r`` read as a line break, ``\\t`` as spaces (two characters each)."""
    return "  " if m.group() == "\\t" else " \n"


#: Texts longer than this are detected window by window (characters).
WINDOW_CHARS = 32_768
#: Characters of context around each window (longer than any span a recognizer finds).
WINDOW_CONTEXT = 1_024


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
        phone_regions: Iterable[str] | None = None,
    ) -> None:
        self.roster = roster
        self.phone_regions = phone_regions_for(phone_regions, roster)
        self.patterns = (
            patterns
            if patterns is not None
            else PatternDetector(org_id_patterns=org_id_patterns or (), phone_regions=self.phone_regions)
        )
        self.types = frozenset(types) if types is not None else None
        if self.types is not None:
            unknown = sorted(self.types - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types: {', '.join(unknown)}")
        self.extra: list[Recognizer] = []
        #: Ids shaped like the roster's (former employees, typos); validated spans, not guesses.
        self.id_shapes: EmployeeIdShapeRecognizer | None = None
        if roster is not None and roster.employee_ids and (self.types is None or EMPLOYEE_ID in self.types):
            self.id_shapes = EmployeeIdShapeRecognizer(roster.employee_ids)
        if people and (self.types is None or PERSON in self.types):
            self.extra.append(PeopleRecognizer())
            self.extra.append(PersonCueRecognizer())
        self._lists = people and (self.types is None or PERSON in self.types)
        if ner is not None:
            self.extra.append(ner if isinstance(ner, NerRecognizer) else NerRecognizer(ner))

    def detect(self, text: str) -> list[Span]:
        """Sorted, non-overlapping PII spans of ``text``."""
        if len(text) <= WINDOW_CHARS:
            return self._detect_whole(text)
        return list(self.iter_detect(text))

    def iter_detect(self, text: str) -> Iterator[Span]:
        """The spans of :meth:`detect`, in order, found window by window (bounded memory)."""
        if len(text) <= WINDOW_CHARS:
            yield from self._detect_whole(text)
            return
        cuts = _cuts(text)
        last_end = 0
        for lo, hi in itertools.pairwise(cuts):
            start = max(0, lo - WINDOW_CONTEXT)
            for sp in self._detect_whole(text[start:min(len(text), hi + WINDOW_CONTEXT)]):
                s0 = sp.start + start
                if s0 < lo or s0 >= hi or s0 < last_end:
                    continue  # another window's, or inside a span kept already
                last_end = sp.end + start
                yield replace(sp, start=s0, end=last_end)

    def _detect_whole(self, text: str) -> list[Span]:
        if not text:
            return []
        if "\\" in text:
            # escaped line breaks and tabs ("Jane Doe\\nPhone: ...", JSON-escaped exports) read as
            # whitespace; same length, so every offset stays that of the original text
            text = _ESCAPES.sub(_unescape, text)
        spans = self.patterns.find(text)
        if self.roster is not None:
            spans += self.roster.find(text)
            spans += self.roster.find_known(text)
        if self.id_shapes is not None:
            spans += self.id_shapes.find(text)
        guess: list[Span] = []
        for rec in self.extra:
            guess += rec.find(text)
        if self._lists:
            guess += coordinated(text, [s for s in spans + guess if s.type == PERSON])
            guess += repeated(text, [s for s in spans + guess if s.type == PERSON])
        if guess:
            spans += _drop_inside(guess, [s for s in spans if s.type != PERSON])
        if self.types is not None:
            spans = [s for s in spans if s.type in self.types]
        return resolve_overlaps(_drop_urls_in_emails(spans))

    __call__ = detect

    def detect_many(self, texts: Iterable[str]) -> list[list[Span]]:
        """:meth:`detect` over several texts."""
        return [self.detect(t) for t in texts]


def phone_regions_for(configured: Iterable[str] | None, roster: Roster | None) -> tuple[str, ...]:
    """The workspace's phone regions (default :data:`DEFAULT_REGIONS`), plus the regions the
    roster's own phone numbers belong to (the roster keeps NANP numbers: ``US``)."""
    regions = list(configured) if configured is not None else list(DEFAULT_REGIONS)
    if roster is not None and roster.phones and "US" not in regions:
        regions.append("US")
    return tuple(regions)


def _cuts(text: str) -> list[int]:
    """Window boundaries: every ~WINDOW_CHARS, moved to the next whitespace when there is one."""
    cuts = [0]
    n = len(text)
    while cuts[-1] + WINDOW_CHARS < n:
        at = cuts[-1] + WINDOW_CHARS
        stop = min(n, at + WINDOW_CONTEXT // 2)
        while at < stop and not text[at].isspace():
            at += 1
        cuts.append(at if at < stop else cuts[-1] + WINDOW_CHARS)
    cuts.append(n)
    return cuts


class _Cover:
    """Which spans overlap any of a fixed set of anchor spans, by binary search."""

    def __init__(self, anchors: list[Span]) -> None:
        ordered = sorted(anchors, key=lambda a: a.start)
        self.starts = [a.start for a in ordered]
        self.max_end: list[int] = []
        top = -1
        for a in ordered:
            top = max(top, a.end)
            self.max_end.append(top)

    def overlaps(self, g: Span) -> bool:
        # anchors starting before g ends; one of them overlaps g iff the furthest end passes g.start
        i = bisect.bisect_left(self.starts, g.end)
        return i > 0 and self.max_end[i - 1] > g.start


def _drop_inside(guesses: list[Span], anchors: list[Span]) -> list[Span]:
    """Guesses that neither lie inside nor overlap an anchor (inside is a case of overlap)."""
    if not anchors:
        return guesses
    cover = _Cover(anchors)
    return [g for g in guesses if not cover.overlaps(g)]


def _drop_urls_in_emails(spans: list[Span]) -> list[Span]:
    emails = [s for s in spans if s.type == EMAIL]
    if not emails:
        return spans
    cover = _Cover(emails)
    return [s for s in spans if s.type != URL or not cover.overlaps(s)]
