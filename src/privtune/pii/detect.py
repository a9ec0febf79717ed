"""One call to find personal data in a text: :func:`detect` over a cached :class:`Detector`.

``detect(text, roster)`` runs the validated patterns, the roster (names, e-mails, ids, phones)
and the people gazetteer, then merges overlapping spans. The result is sorted and
non-overlapping. Build a :class:`~privtune.pii.detector.Detector` yourself to detect many texts
with one configuration (org-specific id patterns, an NER backend).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from privtune.pii.detector import Detector
from privtune.pii.patterns import PatternDetector
from privtune.pii.roster import Roster
from privtune.pii.spans import Span

_CACHE: dict[tuple[int, int, frozenset[str] | None], Detector] = {}


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
    return _detector(roster, patterns, types).detect(text)


def iter_detect(text: str, roster: Roster | None = None, *, patterns: PatternDetector | None = None,
                types: Iterable[str] | None = None) -> Iterator[Span]:
    """The spans of :func:`detect`, in order, yielded window by window (bounded memory for a
    very long text: count them without holding them)."""
    if not text:
        return iter(())
    return _detector(roster, patterns, types).iter_detect(text)


def _detector(roster: Roster | None, patterns: PatternDetector | None,
              types: Iterable[str] | None) -> Detector:
    wanted = frozenset(types) if types is not None else None
    key = (id(roster), id(patterns), wanted)
    det = _CACHE.get(key)
    if det is None or det.roster is not roster or (patterns is not None and det.patterns is not patterns):
        if len(_CACHE) > 32:
            _CACHE.clear()
        det = Detector(roster, patterns=patterns, types=wanted)
        _CACHE[key] = det
    return det
