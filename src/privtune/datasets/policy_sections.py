"""Cut HR policy Markdown into sections and pick each section's key sentence.

A section is a ``##``/``###`` heading and the text under it; the document title is the first
``#`` heading (the file name when there is none). The key sentence is the first sentence of the
section's first paragraph or list item, with Markdown emphasis, links and list markers removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(.+?)\1")


@dataclass(frozen=True)
class PolicySection:
    """One section of one policy document."""

    doc: str  # file stem
    title: str  # document title
    heading: str
    key_sentence: str


def clean_inline(text: str) -> str:
    """Text without Markdown links, emphasis and list markers, whitespace collapsed."""
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _LIST_MARK.sub("", text)
    return " ".join(text.split())


def first_sentence(paragraph: str) -> str:
    """The first sentence of ``paragraph`` (the whole paragraph when it has one sentence)."""
    return _SENTENCE_END.split(paragraph, maxsplit=1)[0].strip()


def parse_policy(doc: str, markdown: str) -> list[PolicySection]:
    """Sections (with a non-empty key sentence) of one policy document, in order."""
    title = doc.replace("-", " ").replace("_", " ").strip().capitalize()
    sections: list[tuple[str, list[str]]] = []
    for line in markdown.splitlines():
        m = _HEADING.match(line)
        if m and len(m.group(1)) == 1 and not sections:
            title = clean_inline(m.group(2)) or title
        elif m and len(m.group(1)) >= 2:
            sections.append((clean_inline(m.group(2)), []))
        elif sections:
            sections[-1][1].append(line)
    out = []
    for heading, lines in sections:
        key = _key_sentence(lines)
        if heading and key:
            out.append(PolicySection(doc, title, heading, key))
    return out


def _key_sentence(lines: list[str]) -> str:
    block: list[str] = []
    for line in lines + [""]:
        if line.strip() and not (block and _LIST_MARK.match(line)):
            block.append(line)
            if _LIST_MARK.match(line):
                break
        elif block:
            break
    return first_sentence(clean_inline(" ".join(block))) if block else ""
