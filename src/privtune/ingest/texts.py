"""Read free-text records (reviews, tickets) from JSON Lines: one object per line.

Each record must carry an ``id`` (a string; an integer is accepted and turned into its decimal
string) and a ``text`` string. Other fields are kept as they are. Ids must be unique. Errors
name the file, the line and the field, never the content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privtune.errors import InputError
from privtune.io import parse_json

#: Extensions ``read_texts`` understands (``.json`` holds one array of such objects).
TEXT_EXTENSIONS: tuple[str, ...] = (".jsonl", ".json")


def read_texts(path: str | Path) -> list[dict[str, Any]]:
    """Read the records of a JSON Lines file; each needs a string ``id`` and ``text``."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in TEXT_EXTENSIONS:
        raise InputError(
            f"unsupported file type '{p.suffix or '(none)'}' for texts; supported: "
            f"{', '.join(TEXT_EXTENSIONS)}",
            path=p,
        )
    if not p.is_file():
        raise InputError("file not found", path=p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", path=p) from None
    if not text.strip():
        raise InputError("file is empty", path=p)
    rows = _array(text, p) if ext == ".json" else _lines(text, p)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row, rec in rows:
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object", path=p, row=row)
        rid = rec.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        if not isinstance(rid, str) or not rid:
            raise InputError("missing or non-string 'id'", path=p, row=row, field="id")
        if not isinstance(rec.get("text"), str):
            raise InputError("missing or non-string 'text'", path=p, row=row, field="text")
        if rid in seen:
            raise InputError("duplicate id", path=p, row=row, field="id")
        seen.add(rid)
        out.append({**rec, "id": rid})
    if not out:
        raise InputError("file holds no records", path=p)
    return out


def _lines(text: str, p: Path) -> list[tuple[int, Any]]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rows.append((lineno, parse_json(line, path=p, row=lineno)))
    return rows


def _array(text: str, p: Path) -> list[tuple[int, Any]]:
    data = parse_json(text, path=p)
    if not isinstance(data, list):
        raise InputError("expected a JSON array of objects at the top level", path=p)
    return list(enumerate(data, start=1))
