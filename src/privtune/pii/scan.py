"""Shared, single-pass text scanning for the recognizers: one tokenisation per text, and regex
scans that skip ahead in C.

Two costs dominated detection (issue 17's profile): every name recognizer tokenised the text on
its own, and most pattern regexes start with a look-behind or an optional group, which keeps
Python's ``re`` from skipping ahead to a possible first character: the engine then enters its
matcher at *every* position of the text (about 0.1 us each, for each of a dozen regexes).

* :func:`words` tokenises a text once into ``(start, end, word)`` letter tokens (apostrophes
  and hyphens inside a word, ``O'Neil``, ``Jean-Luc``); the result is cached for the text
  being analysed (one entry, checked by identity), so the roster matcher and the people
  recognizer share one list.
* :func:`finditer` is ``rx.finditer(text)`` for a regex whose every match starts where a
  *trigger* regex matches; the trigger starts with a character class, so the engine skips to
  candidates in C and the full regex is tried only there. Same matches, same order.
* :func:`anchored` is the same for regexes whose every match holds a literal anchor
  (``@`` of an e-mail) within a run of allowed characters before it.
* :class:`Bounded` is a regex that starts with a negative look-behind on one character
  (``(?<![\\w./-])`` before a date): it is compiled a second time with that character
  *consumed* by a character class (``[^\\w./-]``) and a look-ahead on the match's first
  character, so the engine skips ahead in C to the few positions after a space or a
  punctuation mark that a match may start at, instead of entering its matcher at every
  character. Same matches, same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

#: A word: letters, with apostrophes or hyphens between letters (``O'Neil``, ``Jean-Luc``).
#: The first letter is a character class of its own, so ``re`` skips ahead to letters in C.
WORD = re.compile(r"[^\W\d_][^\W\d_]*(?:['’\-][^\W\d_]+)*")

Token = tuple[int, int, str]
_LAST: tuple[str, list[Token], list[str]] = ("", [], [])


def words(text: str) -> list[Token]:
    """``(start, end, word)`` of every word of ``text``, computed once per text (the last text
    tokenised is cached by identity: the recognizers of one detection share the list; do not
    mutate it)."""
    return _tokenise(text)[1]


def keys(text: str) -> list[str]:
    """The casefolded :func:`words` of ``text`` (same order and cache)."""
    return _tokenise(text)[2]


def _tokenise(text: str) -> tuple[str, list[Token], list[str]]:
    global _LAST
    last = _LAST
    if last[0] is text:
        return last
    toks = [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]
    if text.isascii():  # one C call instead of one per word (lower() is casefold() for ASCII)
        low = text.lower()
        folded = [low[s:e] for s, e, _ in toks]
    else:
        folded = [w.casefold() for _, _, w in toks]
    last = (text, toks, folded)
    _LAST = last
    return last


def finditer(rx: re.Pattern[str], trigger: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """The matches of ``rx.finditer(text)``, when every match of ``rx`` starts at a position
    where ``trigger`` matches (``trigger`` starting with a character class lets the engine skip
    ahead in C; ``rx`` is tried only at those positions)."""
    search, match = trigger.search, rx.match
    pos = 0
    while True:
        t = search(text, pos)
        if t is None:
            return
        at = t.start()
        m = match(text, at)
        if m is None:
            pos = at + 1
            continue
        yield m
        pos = m.end() if m.end() > at else at + 1


def anchored(rx: re.Pattern[str], anchor: str, before: Callable[[str], bool], text: str) -> Iterator[re.Match[str]]:
    """The matches of ``rx.finditer(text)`` when every match holds the literal ``anchor`` and
    starts inside the run of characters accepted by ``before`` that ends at it (an e-mail's
    local part before its ``@``): the regex is searched from the start of that run only (no
    match can start earlier: it would need an anchor, and the first one from there is this)."""
    pos = 0
    while True:
        a = text.find(anchor, pos)
        if a < 0:
            return
        lo = a
        while lo > pos and before(text[lo - 1]):
            lo -= 1
        m = rx.search(text, lo)
        if m is None:
            return
        yield m
        pos = max(m.end(), m.start() + 1)


class Bounded:
    """``(?<![B])BODY`` found without entering the regex matcher at every position.

    ``not_before`` is the body of the look-behind's character class (``\\w./-``). The regex is
    compiled as ``[^B](?=[F])(BODY)``: its first element is a character class, so the engine
    skips in C to a character that may precede a match; ``first`` (``F``), when given, is a
    character class of first characters (``\\dA-Z``), a look-ahead that fails before the body's
    alternatives are tried: only matches starting with one are found (all of them when ``F``
    holds every first character a match can have; ``tests/pii/test_pii_scan.py`` checks this
    for each scanner against the regex it replaced). A match at the very start of the text (no
    character before it) is tried once with ``BODY`` alone. :meth:`spans` gives the same
    matches as ``self.pattern.finditer(text)``, in order: each search after a match starts one
    character back, at the match's last character, which may be the next match's preceding
    character. ``BODY`` must not match the empty string; its groups are read by name.
    """

    __slots__ = ("at_start", "pattern", "rest")

    def __init__(self, not_before: str, body: str, flags: int = 0, *, first: str | None = None) -> None:
        if flags & re.VERBOSE:
            body += "\n"  # a comment on the body's last line must not swallow the closing parenthesis
        #: The regex this scanner stands for (its matches are :meth:`spans`).
        self.pattern = re.compile(rf"(?<![{not_before}])(?:{body})", flags)
        ahead = rf"(?=[{first}])" if first else ""
        self.at_start = re.compile(rf"{ahead}(?:{body})", flags)
        self.rest = re.compile(rf"[^{not_before}]{ahead}(?P<_bounded>{body})", flags)

    def spans(
        self, text: str, pos: int = 0, endpos: int | None = None
    ) -> Iterator[tuple[int, int, re.Match[str]]]:
        """``(start, end, match)`` of each match of ``self.pattern.finditer(text, pos, endpos)``,
        in order (read the match's named groups; its own span may include the preceding
        character). As there, the look-behind at ``pos`` sees the character before it."""
        end = len(text) if endpos is None else endpos
        if pos == 0:
            m = self.at_start.match(text, 0, end)
            if m is not None:
                yield 0, m.end(), m
                pos = m.end()
        search = self.rest.search
        while True:
            m = search(text, pos - 1 if pos else 0, end)
            if m is None:
                return
            s, pos = m.span("_bounded")
            yield s, pos, m
