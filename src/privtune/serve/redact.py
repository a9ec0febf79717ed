"""Output protection: every answer is scanned with privtune's own PII detector before it leaves.

:class:`Redactor` holds one :class:`~privtune.pii.detector.Detector` (validated patterns, the
workspace roster when the server could read the person table, the people gazetteer) plus the
shape of privtune's pseudonym tokens (``EMP-`` + 10 hex, :mod:`privtune.deid.operators.pseudonymize`;
masked as ``EMPLOYEE_ID``).
Every span found is replaced by ``[TYPE]`` for every caller: the server never re-identifies.

Streaming (:class:`StreamRedaction`): text is released only once it lies at least
:data:`HOLD_CHARS` characters before the end of what the model produced so far, cut at
whitespace and never inside a detected span, so an identifier split over two chunks
(``Jane`` then `` Doe``) is seen whole before any of it leaves. The window is scanned once
per :data:`RELEASE_STEP` new characters, not per piece. Detection re-reads
:data:`CONTEXT_CHARS` of already released text on the left (``Mr.`` before a name). An
identifier longer than the hold-back is the bound of this guarantee. A non-streamed answer goes
through the same code, so both give the same text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from privtune.pii.detector import Detector
from privtune.pii.spans import EMPLOYEE_ID, Span, resolve_overlaps

#: Characters held back from a stream before release (longer than any identifier we mask).
HOLD_CHARS = 96
#: The stream is scanned once per this many new characters past the hold-back, not on every
#: piece (a piece is a token, ~4 characters: scanning each would re-read the window ~25 times).
RELEASE_STEP = 48
#: Already released characters re-read as left context.
CONTEXT_CHARS = 64
#: A run without whitespace longer than this is cut anyway (bounded memory and work).
MAX_PENDING = 4096
PSEUDONYM_RE = re.compile(r"\b[A-Z]{2,8}-[0-9a-f]{10}\b")


def mask(kind: str) -> str:
    return f"[{kind}]"


class Redactor:
    """Finds what to mask; thread-safe (the detector keeps no per-call state)."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def spans(self, text: str, *, keep_pseudonyms: bool = False) -> list[Span]:
        """What to mask; ``keep_pseudonyms``: leave pseudonym tokens (a role allowed to see
        them, per the serving policy), mask everything else."""
        found = self.detector.detect(text)
        tokens = [Span(m.start(), m.end(), EMPLOYEE_ID) for m in PSEUDONYM_RE.finditer(text)]
        if keep_pseudonyms:
            keep = {(t.start, t.end) for t in tokens}
            return [s for s in found if (s.start, s.end) not in keep]
        return resolve_overlaps(found + tokens) if tokens else found

    def stream(self, *, keep_pseudonyms: bool = False) -> StreamRedaction:
        return StreamRedaction(self, keep_pseudonyms=keep_pseudonyms)

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """``(masked text, counts per type)`` of a whole text (the stream's code, fed at once)."""
        s = self.stream()
        out = s.feed(text) + s.finish()
        return out, s.counts


@dataclass
class StreamRedaction:
    redactor: Redactor
    keep_pseudonyms: bool = False
    ctx: str = ""      # the last released characters (raw), re-read as left context
    pending: str = ""  # produced, not yet released
    counts: Counter[str] = field(default_factory=Counter)

    def feed(self, piece: str) -> str:
        """The masked text that may leave now (possibly empty)."""
        self.pending += piece
        if len(self.pending) <= HOLD_CHARS + RELEASE_STEP:
            return ""
        return self._release(final=False)

    def finish(self) -> str:
        """Everything still held, masked (the model is done)."""
        return self._release(final=True) if self.pending else ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _release(self, *, final: bool) -> str:
        text = self.ctx + self.pending
        off = len(self.ctx)
        spans = self.redactor.spans(text, keep_pseudonyms=self.keep_pseudonyms)
        cut = len(text)
        if not final:
            cut = len(text) - HOLD_CHARS
            if len(self.pending) <= MAX_PENDING:
                while cut > off and not text[cut - 1].isspace():
                    cut -= 1
            for sp in spans:
                if sp.start < cut < sp.end:
                    cut = sp.start
            if cut <= off:
                return ""
        out: list[str] = []
        pos = off
        for sp in spans:
            if sp.end <= off or sp.start >= cut:
                continue
            out.append(text[pos:max(sp.start, pos)])
            out.append(mask(sp.type))
            self.counts[sp.type] += 1
            pos = min(sp.end, cut)
        out.append(text[pos:cut])
        self.ctx = text[max(0, cut - CONTEXT_CHARS):cut]
        self.pending = text[cut:]
        return "".join(out)
