"""The stable evaluation interface: JSONL texts in, JSONL spans out (``privtune pii detect``).

Input, one JSON object per line: ``{"id": <string or integer>, "text": <string>}`` (other
fields are ignored; blank lines are skipped). Output, one line per input line, in order:
``{"id": <id>, "spans": [{"start": s, "end": e, "type": T}, ...]}`` with Python character
offsets (``text[s:e]`` is the personal value), sorted and non-overlapping.

Lines are read and answered in batches of :data:`BATCH_LINES`, so memory stays flat whatever
the input size; with ``workers > 1`` each batch is split over processes that each build the
detector once. A malformed line raises :class:`~privtune.errors.InputError` naming the line
number and the field, never the line's content.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Iterable, Iterator
from typing import Any

from privtune.errors import InputError
from privtune.io import parse_json
from privtune.pii.detector import Detector
from privtune.pii.spans import Span

BATCH_LINES = 512

_WORKER_DETECTOR: Detector | None = None


def parse_line(line: str, lineno: int, source: str = "<stdin>") -> tuple[Any, str] | None:
    """``(id, text)`` of one input line, ``None`` for a blank line; InputError otherwise."""
    if not line.strip():
        return None
    try:
        obj = parse_json(line, row=lineno)
    except InputError as exc:
        reason = exc.message.split(": ", 1)[-1]
        raise InputError(f"line {lineno}: not a valid JSON object ({reason})", path=source) from None
    if not isinstance(obj, dict):
        raise InputError(f"line {lineno}: expected a JSON object with 'id' and 'text'", path=source)
    if "id" not in obj:
        raise InputError(f"line {lineno}: missing field", path=source, field="id")
    rid = obj["id"]
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        raise InputError(f"line {lineno}: must be a string or an integer", path=source, field="id")
    text = obj.get("text")
    if not isinstance(text, str):
        raise InputError(f"line {lineno}: missing or not a string", path=source, field="text")
    return rid, text


def spans_record(rid: Any, spans: list[Span]) -> str:
    """One output line (without the newline)."""
    return json.dumps(
        {"id": rid, "spans": [{"start": s.start, "end": s.end, "type": s.type} for s in spans]},
        ensure_ascii=False,
    )


def _init_worker(detector: Detector) -> None:
    global _WORKER_DETECTOR
    _WORKER_DETECTOR = detector


def _detect_chunk(texts: list[str]) -> list[list[Span]]:
    assert _WORKER_DETECTOR is not None
    return [_WORKER_DETECTOR.detect(t) for t in texts]


def detect_jsonl(
    lines: Iterable[str], detector: Detector, *, workers: int = 1, source: str = "<stdin>"
) -> Iterator[str]:
    """Output lines for the input ``lines`` (see the module docstring), streamed in order."""
    pool = None
    if workers > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=(detector,))
    try:
        batch: list[tuple[Any, str]] = []
        for lineno, line in enumerate(lines, start=1):
            rec = parse_line(line, lineno, source)
            if rec is not None:
                batch.append(rec)
            if len(batch) >= BATCH_LINES:
                yield from _answer(batch, detector, pool, workers)
                batch = []
        if batch:
            yield from _answer(batch, detector, pool, workers)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _answer(batch: list[tuple[Any, str]], detector: Detector, pool: Any, workers: int) -> Iterator[str]:
    texts = [t for _, t in batch]
    if pool is None:
        results = [detector.detect(t) for t in texts]
    else:
        size = max(1, -(-len(texts) // (workers * 4)))
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        results = [spans for part in pool.map(_detect_chunk, chunks) for spans in part]
    for (rid, _), spans in zip(batch, results):
        yield spans_record(rid, spans)
