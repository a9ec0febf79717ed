"""Loader for the hand-written HR snippets in ``tests/data/pii_hr_snippets.txt``.

The file holds realistic HR texts (tickets, reviews, chat, e-mails with signatures, German and
French notes), written by hand, one per block; blocks are separated by a line ``---`` and a
line starting with ``#`` is a comment. Personal data is marked inline as
``[[TYPE:value]]``; the loader strips the marks and returns the text with the gold spans'
offsets. Nothing in the file is generated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from privtune.pii.spans import ENTITY_TYPES

PATH = Path(__file__).resolve().parents[1] / "data" / "pii_hr_snippets.txt"
_MARK = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]", re.S)


@dataclass(frozen=True)
class Snippet:
    line: int
    text: str
    spans: tuple[tuple[int, int, str], ...]


def parse(block: str, line: int) -> Snippet:
    out, spans, pos = [], [], 0
    length = 0
    for m in _MARK.finditer(block):
        kind, value = m.group(1), m.group(2)
        if kind not in ENTITY_TYPES:
            raise ValueError(f"line {line}: unknown type {kind}")
        out.append(block[pos : m.start()])
        length += m.start() - pos
        spans.append((length, length + len(value), kind))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(block[pos:])
    return Snippet(line, "".join(out), tuple(spans))


def load_snippets(path: Path = PATH) -> list[Snippet]:
    snippets: list[Snippet] = []
    block: list[str] = []
    start = 1
    for no, raw in enumerate([*path.read_text(encoding="utf-8").splitlines(), "---"], 1):
        if raw.strip() == "---":
            text = "\n".join(block).strip("\n")
            if text.strip():
                snippets.append(parse(text, start))
            block, start = [], no + 1
        elif not raw.startswith("#"):
            block.append(raw)
    return snippets
