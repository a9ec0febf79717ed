"""One call to find personal data in a text: regex detectors plus the company roster.

:func:`detect` runs :class:`~privtune.pii.patterns.PatternDetector` and, when a roster is
given, the roster's name matcher and known-identifier matcher, then merges overlapping spans
(:func:`~privtune.pii.spans.resolve_overlaps`). The result is sorted and non-overlapping.
"""

from __future__ import annotations

from collections.abc import Iterable

from privtune.pii.patterns import PatternDetector, find_patterns
from privtune.pii.roster import Roster
from privtune.pii.spans import Span, resolve_overlaps


def detect(
    text: str,
    roster: Roster | None = None,
    *,
    patterns: PatternDetector | None = None,
    types: Iterable[str] | None = None,
) -> list[Span]:
    """Sorted, non-overlapping PII spans of ``text``; ``types`` keeps only those entity types."""
    if not text:
        return []
    spans = patterns.find(text) if patterns is not None else find_patterns(text)
    if roster is not None:
        spans += roster.find(text)
        spans += roster.find_known(text)
    if types is not None:
        keep = set(types)
        spans = [s for s in spans if s.type in keep]
    return resolve_overlaps(spans)
