"""PERSON from the shape of the text around a name, for names no gazetteer lists.

:mod:`~privtune.pii.recognizers.people` needs a gazetteer name or a cue word; most names of the
world are in no list (``Bibulat Sultygov``, ``Teake Tuininga``). These cues hold whatever the
name, each giving a span over the name only:

* a middle initial between two capitalised words: ``Berislav B. Kovačević``,
  ``Zarita S Akhtakhanov`` (neither word common English, a title or a street word);
* a surname ending of many languages after a capitalised word: ``Bibulat Sultygov``,
  ``Milenko Vučković``, ``Elfa Kristjánsdóttir``, ``Szymon Kaczmarczyk`` (:data:`SURNAME_ENDINGS`);
* a greeting or a closing: ``Hi Nermina,``, ``Dear Ms Okafor``, ``Hallo Jörg``, ``Thanks, Sipho``;
* a speaker label at the start of a line: ``Thelma: "Who are you?"``, ``Agoti: What a wife.``
  (a gazetteer name, or any non-English capitalised word when the text holds two such labels);
* a reporting verb right before a name that ends the clause: ``says Koupil.``;
* a signature line: the first line of a text, or a line after a blank one, made only of two or
  three capitalised words that are not English words or company words (``Riku Andou\\n...``);
* a lone gazetteer surname before a verb of speech or action: ``Horton began writing``.

:func:`coordinated` then extends any PERSON span over the names listed with it: ``Cocci and
Rios``, ``Cettina, Michele, Michael and Sarah`` (capitalised, not English, not a title word).

Rejected: common English words (``Plan B Budget``), job titles and company words (``Acme
Holdings``), street words (``Elm Street``), all-capital words (``HR``, ``IT``), labels
(``Phone:``, ``Subject:``, ``User:``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from functools import lru_cache

from privtune.pii.recognizers.address import STREET_WORDS
from privtune.pii.recognizers.people import HONORIFICS, TITLE_WORDS, gazetteer
from privtune.pii.spans import PERSON, Span
from privtune.pii.wordlist import COMMON_WORDS

#: Surname endings of Slavic, Nordic, Baltic, Greek, Romance, Turkish, Armenian, Georgian and
#: Frisian names (casefolded).
SURNAME_ENDINGS: tuple[str, ...] = (
    "ović", "ević", "vić", "ić", "ovich", "evich", "ovna", "evna", "ov", "ova", "ev", "eva", "yev", "yeva", "aev",
    "ski", "ska", "sky", "skiy", "skaya", "ckiy", "cki", "cka", "czyk", "wicz", "icz", "enko", "escu", "eanu",
    "oglu", "oğlu", "yan", "dze", "shvili", "sson", "dóttir", "dottir", "poulos", "akis", "idis", "opoulou",
    "ová", "ský", "ská", "inga", "stra", "etti", "elli", "ucci", "iello", "aitis", "ienė", "iūtė", "auskas", "evičius",
    "sdóttir", "ovski", "evski", "ovska", "ezović", "son", "sen", "ssen",
)  # fmt: skip
#: English words with a surname ending.
_ENDING_WORDS = frozenset(["comparison", "reason", "season", "person", "lesson", "poison", "prison", "unison", "liaison", "treason", "caisson", "chosen", "dozen", "citizen", "eleven", "seven", "even", "given", "driven", "proven", "review", "preview", "overview", "interview", "eva", "nova", "java", "lava", "diva", "visa", "villa"])
_ENDINGS_RE = re.compile("(?:" + "|".join(sorted(SURNAME_ENDINGS, key=len, reverse=True)) + r")$")
#: Words that end a name run or never are one (labels, company words, places' heads).
LABEL_WORDS: frozenset[str] = frozenset(
    ["bot", "user", "agent", "customer", "client", "q", "a", "re", "subject", "from", "to", "cc", "bcc", "note", "notes",
     "name", "phone", "email", "e-mail", "fax", "mobile", "desk", "office", "website", "web", "address", "date", "time",
     "tel", "cell", "home", "work", "summary", "action", "outcome", "feedback", "goal", "goals", "status", "update",
     "comment", "comments", "reason", "title", "ticket", "priority", "category", "location", "reviewer", "employee",
     "manager", "rating", "score", "strengths", "weaknesses", "objective", "objectives", "result", "results", "answer",
     "question", "info", "information", "personal", "details", "regards", "thanks", "cheers", "best", "sincerely",
     "inc", "ltd", "llc", "gmbh", "ag", "sa", "plc", "corp", "corporation", "company", "co", "group", "holdings", "bank",
     "fund", "trust", "partners", "capital", "international", "limited", "technologies", "systems", "solutions",
     "phd", "md", "jr", "esq", "mba", "ceo", "cto", "cfo", "hr", "it", "ops", "i'm", "i’m", "i'll", "i've", "i'd",
     "hi", "hey", "hello", "dear", "hallo", "gruß", "grüße", "bonjour", "salut", "hola", "ciao", "ok", "okay", "yes",
     "yeah", "oh", "well", "sadly", "luckily", "meanwhile", "btw", "fyi", "asap", "pto", "ooo"]
)  # fmt: skip
_UP = "A-ZÀ-ÖØ-Þ\u0100-\u017f"
_CAPW = rf"[{_UP}][^\W\d_]*(?:['’-][^\W\d_]+)*"
# Each regex carries its own cue, so that the scan runs in C and Python sees only candidates.
_INITIAL_CORE = re.compile(rf"[ ][A-Z]\.?[ ][{_UP}]")
# They start with a character class or a literal (which the regex engine skips to in C); the
# word boundary before the match is checked in Python (_starts_word), only on the matches.
_INITIAL_RE = re.compile(rf"({_CAPW})[ ]([A-Z])\.?[ ]({_CAPW})\b")
_ENDING_RE = re.compile(
    rf"({_CAPW})[ ]([{_UP}][^\W\d_]*(?:{'|'.join(sorted(SURNAME_ENDINGS, key=len, reverse=True))}))(?:['’]s)?(?![\w'’-])"
)
_GREETING_RE = re.compile(
    rf"(?:Hi|Hello|Hey|Dear|Hallo|Liebe|Lieber|Bonjour|Salut|Cher|Chère|Hola|Querida|Querido|Beste|Hoi|Thanks|Thank[ ]you|Cheers|Ciao)"
    rf",?[ ]+(?:(?:{'|'.join(sorted((h.capitalize() for h in HONORIFICS), key=len, reverse=True))})\.?[ ])?"
    rf"({_CAPW}(?:[ ]{_CAPW})?)(?=[ ]?[,!:\n]|\s*$)"
)
_SPEAKER_RE = re.compile(rf"^[ \t\"“>]*({_CAPW}(?:[ ]{_CAPW})?):[ ]?[\"“]?(?=[^\W\d_])", re.M)
#: The words every match of :data:`_REPORTED_RE` / :data:`_BY_RE` holds (with the space after
#: them): a text with none is not scanned (a substring test runs in C; the regexes, which start
#: with a lower-case letter, enter their matcher at most letters of a text).
_REPORTED_WORDS = ("says ", "said ", "asks ", "asked ", "adds ", "added ", "explains ", "explained ", "writes ", "wrote ",
                   "notes ", "noted ", "replied ", "recalls ")  # fmt: skip
_BY_WORDS = ("by ", "with ", "starring ", "featuring ", "add ")
_REPORTED_RE = re.compile(rf"(?:says|said|asks|asked|adds|added|explains|explained|writes|wrote|notes|noted|replied|recalls)[ ]({_CAPW}(?:[ ]{_CAPW})?)(?=[.,;!?]|[ ](?:to|in|at|on)[ ]|$)")
#: Verbs after which a lone gazetteer surname is a person: ``Horton began writing``.
_VERBS: tuple[str, ...] = (
    "said", "says", "began", "begins", "started", "joined", "wrote", "writes", "replied", "explained", "added", "noted",
    "thinks", "thought", "agreed", "mentioned", "confirmed", "reported", "complained", "shouted", "asked", "told",
    "called", "left", "spent", "was", "is", "has", "had", "will", "would", "lives", "works", "worked", "just",
)  # fmt: skip
_VERB_RE = re.compile(rf"[ ](?:{'|'.join(_VERBS)})\b")
#: A name after ``by``, ``with``, ``starring``, ``featuring`` or ``add``: ``directed by Hafþór
#: Smárason``, ``Follow up with Lily Solomina``, ``add Abelino Giordano as guardian``.
_BY_RE = re.compile(rf"(?:by|with|starring|featuring|add)[ ]({_CAPW}(?:[ ](?:{_CAPW}|van|von|der|den|de|del|da|di|dos|du|la|le|ten|ter)){{0,3}})")
#: Two capitalised words before ``of`` and an organisation: ``Ruriko Terada of Amtek Auto Ltd``.
_OF_ORG_RE = re.compile(rf"({_CAPW})[ ]({_CAPW})[ ]of[ ](?=[A-Z0-9])")
_OF_CUE = re.compile(r" of (?=[A-Z0-9])")


def of_org_matches(text: str) -> Iterator[re.Match[str]]:
    """The matches of ``_OF_ORG_RE.finditer(text)``, tried only where they can start: the regex
    enters at every capital letter, but a match ends with `` of `` + a capital or digit (a
    literal the engine finds in C) and holds one space before it, so its first word lies in the
    run of non-spaces before the second word's space; it is tried from each position of that
    run, as ``finditer`` would (leftmost, not before the previous match's end)."""
    done = 0
    for cue in _OF_CUE.finditer(text):
        q = text.rfind(" ", 0, cue.start()) + 1  # the second word's start
        if q == 0:
            continue
        r = text.rfind(" ", 0, q - 1) + 1  # the run that holds the first word
        for s in range(max(r, done), q - 1):
            m = _OF_ORG_RE.match(text, s)
            if m is not None:
                yield m
                done = m.end()
                break
#: Verbs after which a lone capitalised word at a sentence start is a person: ``Lyberth began
#: writing``, ``Thilda spent a year``, ``Gijsbrecht shouted at``.
_LONE_VERBS = frozenset(["began", "spent", "shouted", "lives", "lived", "listed", "said", "says", "told", "asked", "replied",
                         "wrote", "married", "resigned", "retired", "complained", "explained", "emailed", "joined"])
#: The capitalised word right before a position: ``Horton`` of ``Horton began``.
_CAP_BEFORE = re.compile(rf"(?<![\w'’-])({_CAPW})\Z")
#: Two capitalised words before a verb only people do: ``Kimiko Hoshino lives at``.
_PERSON_VERBS: tuple[str, ...] = (
    "said", "says", "told", "asked", "asks", "lives", "lived", "shouted", "wrote", "writes", "replied", "joined",
    "thinks", "wants", "wanted", "explained", "complained", "emailed", "mentioned", "married", "resigned", "retired",
)  # fmt: skip
_PERSON_VERB_SET = frozenset(_PERSON_VERBS)
_TWO_CAPS_BEFORE = re.compile(rf"(?<![\w'’-])({_CAPW})[ ]({_CAPW})\Z")
#: ``Cocci and Rios``: two capitalised names joined by ``and``.
_PAIR_RE = re.compile(rf"[ ](?:and|&)[ ]({_CAPW})(?![\w'’-])")
_PAIR_VERBS = frozenset((*_VERBS, "were", "are"))
_SIGNATURE_RE = re.compile(rf"[ \t>}}|?*•]*({_CAPW}(?:[ ](?:[A-Z]\.?[ ])?{_CAPW}){{1,2}})[ \t]*(?=\n)")
#: A blank line, or a line holding only a quote or list prefix (``}}``, ``???``, ``>``).
_BLANK_LINE = re.compile(r"\n[ \t>}|?*•]*\n")
_LEADING_BLANK = re.compile(r"(?:[ \t>}|?*•]*\n)+")
_LIST_NEIGHBOUR = re.compile(rf"(,[ ]|[ ]and[ ]|[ ]&[ ]|[ ]und[ ]|[ ]et[ ]|[ ]y[ ]|[ ]en[ ])({_CAPW})(?![\w'’-])")
_LIST_BEFORE = re.compile(rf"(?<![\w'’-])({_CAPW})(,[ ]|[ ]and[ ]|[ ]&[ ])\Z")
_JOINERS = (", ", " and ", " & ", " und ", " et ", " y ", " en ")
#: After a comma-listed name the list goes on: ``Cettina, Michele, Michael and Sarah``.
_LIST_GOES_ON = re.compile(r"(?:,[ ]|[ ]and[ ]|[ ]&[ ])")
_AFTER_WORD = re.compile(r"[ ]([a-z]+)\b")
#: A name addressed at the start of a sentence: ``Serdar, can I ...``, ``Anna, could you ...``.
_VOCATIVE_RE = re.compile(r",[ ](?:can|could|would|will|do|did|are|have|please)[ ](?:I|you|we|u)\b")
_PARTICLES = frozenset(["van", "von", "der", "den", "de", "del", "da", "di", "dos", "du", "la", "le", "ten", "ter"])
#: ``Rubija Liberšar, the News correspondent, said``: a name, an apposition, a verb of speech.
_APPOSITION_RE = re.compile(r",[ ]the[ ][^,.;:\n]{2,40},[ ](?:said|says|told|added|explained|wrote)\b")
_NAMEWORD = rf"(?:{_CAPW}|van|von|der|den|de|del|da|di|dos|du|la|le|ten|ter)"
#: The name before an apposition: up to four capitalised words or particles, ending at the comma.
_NAME_BEFORE = re.compile(rf"(?<![\w'’-])({_NAMEWORD}(?:[ ]{_NAMEWORD}){{0,3}})\Z")


def _starts_word(text: str, i: int) -> bool:
    """No letter, digit, apostrophe, hyphen or dot right before ``i``."""
    return i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_'’-.")


def _sentence_start(text: str, s: int) -> bool:
    before = text[max(0, s - 3) : s].rstrip()
    return not before or before[-1] in ".!?:\n\"“(>"



class PersonCueRecognizer:
    """Names found by the shape of the text (initials, surname endings, greetings, labels)."""

    name = "person_cues"
    types = (PERSON,)

    def __init__(self, first_names: frozenset[str] | None = None, last_names: frozenset[str] | None = None) -> None:
        if first_names is None or last_names is None:
            first_names, last_names = gazetteer()
        self.first = first_names
        self.last = last_names

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        span = self._span
        for m in _INITIAL_RE.finditer(text) if _INITIAL_CORE.search(text) else ():
            if not _starts_word(text, m.start()):
                continue
            first = m.group(1).casefold()
            if (_plain(m.group(1)) or (first in self.first and first not in _MONTHS)) and _plain(m.group(3)):
                out.append(span(m.start(1), m.end(3), 0.8))
        for m in _ENDING_RE.finditer(text):
            a, b = m.group(1), m.group(2)
            kb = b.casefold()
            if _starts_word(text, m.start()) and len(a) > 2 and len(kb) > 4 and kb not in _ENDING_WORDS and not kb.endswith("person") and _plain(a) and _plain(b):
                out.append(span(m.start(1), m.end(2), 0.75))
        for m in _GREETING_RE.finditer(text):
            if _starts_word(text, m.start()) and all(_plain(w) for w in m.group(1).split()):
                out.append(span(m.start(1), m.end(1), 0.8))
        if ":" in text:
            labels = [m for m in _SPEAKER_RE.finditer(text) if all(self._label_name(w) for w in m.group(1).split())]
            dialogue = len(labels) >= 2  # a dialogue: two speaker lines (one speaker twice counts)
            for m in labels:
                words = m.group(1).split()
                known = any(w.casefold() in self.first or w.casefold() in self.last for w in words)
                if (dialogue or known) and (known or all(_plain(w) for w in words)):
                    out.append(span(m.start(1), m.end(1), 0.8))
        for v in _VOCATIVE_RE.finditer(text) if ", " in text else ():  # "Serdar, can I please speak to your boss?"
            one = _CAP_BEFORE.search(text, max(0, v.start() - 40), v.start())
            if one and _plain(one.group(1)) and _sentence_start(text, one.start(1)):
                out.append(span(one.start(1), one.end(1), 0.75))
        if ", the " in text:  # "Iwao Iwase, the Hospital attendant, said:"
            for ap in _APPOSITION_RE.finditer(text):
                named = _NAME_BEFORE.search(text, max(0, ap.start() - 80), ap.start())
                if named is None:
                    continue
                words = named.group(1).split()
                if all(_plain(w) or w in _PARTICLES for w in words) and _plain(words[0]) and _plain(words[-1]):
                    out.append(span(named.start(1), named.end(1), 0.75))
        for m in _BY_RE.finditer(text) if any(w in text for w in _BY_WORDS) else ():  # "directed by Hafþór Smárason", "follow up with Lily Solomina"
            if not _starts_word(text, m.start()):
                continue
            words = m.group(1).split()
            while words and not _plain(words[-1]):
                words.pop()  # "Cinzia Ford Street": the name stops before a street or title word
            if not words:
                continue
            keys = [_strip(w).casefold() for w in words]
            in_list = [k in self.first or k in self.last for k in keys]
            # every word a name-like word, or a listed name even when it is English ("Lily Solomina")
            ok = all(_plain(w) or w in _PARTICLES or (known and not w.isupper() and k not in TITLE_WORDS and k not in LABEL_WORDS)
                     for w, k, known in zip(words, keys, in_list))
            if ok and any(in_list):  # at least one listed name: "Microsoft Teams", "Google Cloud" are not people
                end = m.start(1) + len(" ".join(words))
                end -= len(words[-1]) - len(_strip(words[-1]))
                out.append(span(m.start(1), end, 0.75))
        if " of " in text:
            for m in of_org_matches(text):  # "Ruriko Terada of Amtek Auto Ltd"
                if _starts_word(text, m.start()) and _plain(m.group(1)) and _plain(m.group(2)) and _strip(m.group(2)) == m.group(2):
                    out.append(span(m.start(1), m.end(2), 0.7))
        for m in _REPORTED_RE.finditer(text) if any(w in text for w in _REPORTED_WORDS) else ():  # "says Koupil.", "said Anna Berg in a statement"
            if all(_plain(w) for w in m.group(1).split()):
                out.append(span(m.start(1), m.end(1), 0.75))
        if "\n" in text:  # a signature line: the first line, or a line after a blank one
            lead = _LEADING_BLANK.match(text)  # the first line that is not blank (or a bare prefix)
            starts = [lead.end() if lead else 0] + [b.end() for b in _BLANK_LINE.finditer(text)]
            for pos in starts:
                sig = _SIGNATURE_RE.match(text, pos)
                if sig:
                    words = sig.group(1).split()
                    if _plain(words[0]) and _plain(words[-1]) and all(_plain(w) or (len(w) <= 2 and w[0].isupper()) for w in words):
                        out.append(span(sig.start(1), sig.end(1), 0.75))
        for v in _VERB_RE.finditer(text):
            lo = max(0, v.start() - 80)
            one = _CAP_BEFORE.search(text, lo, v.start())
            if one is None:
                continue
            key = one.group(1).casefold()  # a lone surname before a verb: "Horton began writing"
            verb = text[v.start() + 1 : v.end()]
            if key in self.last and key not in self.first and len(key) > 2 and _plain(one.group(1)):
                out.append(span(one.start(1), one.end(1), 0.7))
            elif verb in _LONE_VERBS and len(key) > 2 and _plain(one.group(1)) and _sentence_start(text, one.start(1)):
                # any name opening a sentence: "Lyberth began writing" (a possessive 's stays outside)
                out.append(span(one.start(1), one.start(1) + len(_strip(one.group(1))), 0.7))
            two = _TWO_CAPS_BEFORE.search(text, lo, v.start())
            people_verb = text[v.start() + 1 : v.end()] in _PERSON_VERB_SET  # "Kimiko Hoshino lives at"
            if two and people_verb and _plain(two.group(1)) and _plain(two.group(2)) and _strip(two.group(2)) == two.group(2):
                out.append(span(two.start(1), two.end(2), 0.7))
        for m in _PAIR_RE.finditer(text) if (" and " in text or " & " in text) else ():  # "Cocci and Rios were", "Boehm and Wright"
            one = _CAP_BEFORE.search(text, max(0, m.start() - 40), m.start())
            if one is None:
                continue
            a, b = one.group(1).casefold(), m.group(1).casefold()
            listed = int(a in self.first or a in self.last) + int(b in self.first or b in self.last)
            if not listed or not (_plain(one.group(1)) and _plain(m.group(1))):
                continue
            after = _AFTER_WORD.match(text, m.end(1))
            if listed == 2 or (after and after.group(1) in _PAIR_VERBS):
                out += [span(one.start(1), one.end(1), 0.7), span(m.start(1), m.end(1), 0.7)]
        return out

    def _label_name(self, word: str) -> bool:
        """A word that may name the speaker of a line: any non-label capitalised word, or a
        gazetteer first name even when it is an English word (``Mark:``, ``Carol:``)."""
        key = word.casefold()
        return _plain(word) or (
            key in self.first and not word.isupper() and key not in LABEL_WORDS and key not in TITLE_WORDS and key not in _MONTHS
        )

    def _span(self, start: int, end: int, score: float) -> Span:
        return Span(start, end, PERSON, score=score, source=self.name)


def repeated(text: str, spans: list[Span]) -> list[Span]:
    """New PERSON spans for the other mentions of a name found once: ``directed by Anne-Lise
    Frederiksen and starring Frederiksen``, ``Motochika spent ... Motochika Fukasawa`` (a
    capitalised word of a PERSON span, not an English, title or label word, written the same
    way elsewhere in the text as a whole word, or with a possessive ``'s``)."""
    names = {
        w for s in spans if s.type == PERSON for w in (_strip(x) for x in text[s.start : s.end].split()) if len(w) > 2 and _plain(w)
    }
    if not names:
        return []
    hits: list[tuple[int, int]] = []
    n = len(text)
    for w in names:  # str.find in C: a few names, a few mentions each
        at = text.find(w)
        while at >= 0:
            end = at + len(w)
            if _word_starts(text, at) and (end == n or _word_ends(text, end)):
                hits.append((at, end))
            at = text.find(w, end)
    taken = sorted((s.start, s.end) for s in spans)
    out: list[Span] = []
    for s, e in sorted(hits):
        i = bisect.bisect_right(taken, (s, n + 1)) - 1
        if i >= 0 and taken[i][0] <= s < taken[i][1]:
            continue  # inside a span found already
        if out and text[out[-1].end : s] == " ":
            out[-1] = Span(out[-1].start, e, PERSON, score=0.7, source="person_cues")  # "Seid" + "Globelnik"
        else:
            out.append(Span(s, e, PERSON, score=0.7, source="person_cues"))
    return out


def _glued(ch: str) -> bool:
    """A character that would make the one after it the inside of a word."""
    return ch.isalnum() or ch in "_'’-"


def _word_starts(text: str, at: int) -> bool:
    """A word starts at ``at``: no letter, digit, ``_`` or ``-`` before it, nor an apostrophe
    inside a word (``O'Neil``); an opening quote is fine."""
    if at == 0:
        return True
    ch = text[at - 1]
    if ch in "'’":
        return at < 2 or not text[at - 2].isalpha()
    return not (ch.isalnum() or ch in "_-")


def _word_ends(text: str, end: int) -> bool:
    """A whole word ends at ``end`` (or a possessive ``'s`` follows it)."""
    ch = text[end]
    if ch in "'’":
        nxt = text[end + 1 : end + 3]
        if not nxt[:1].isalpha():
            return True  # a closing quote
        return nxt[:1] in ("s", "S") and (len(nxt) < 2 or not _glued(nxt[1]))
    return not (ch.isalnum() or ch in "_-")


def coordinated(text: str, spans: list[Span]) -> list[Span]:
    """New PERSON spans for the names listed next to a PERSON span: ``Cocci and Rios``."""
    seen = {(s.start, s.end) for s in spans}
    todo = [s for s in spans if s.type == PERSON]
    out: list[Span] = []
    while todo and len(out) < 50:
        s = todo.pop()
        cands = []
        m = _LIST_NEIGHBOUR.match(text, s.end) if text.startswith(_JOINERS, s.end) else None
        if m and (m.group(1) != ", " or _LIST_GOES_ON.match(text, m.end(2))):
            cands.append((m.start(2), m.end(2) - (len(m.group(2)) - len(_strip(m.group(2))))))
        b = _LIST_BEFORE.search(text, max(0, s.start - 40), s.start) if text.endswith(_JOINERS[:3], 0, s.start) else None
        if b and (b.group(2) != ", " or _LIST_GOES_ON.match(text, s.end)):
            cands.append((b.start(1), b.end(1)))
        for a, e in cands:
            word = text[a:e]
            if (a, e) in seen or not _plain(word) or len(word) < 3:
                continue
            seen.add((a, e))
            new = Span(a, e, PERSON, score=0.7, source="person_cues")
            out.append(new)
            todo.append(new)
    return out


def _strip(word: str) -> str:
    return word[:-2] if len(word) > 2 and word[-2:] in ("'s", "’s") else word


@lru_cache(maxsize=1 << 16)
def _plain(word: str) -> bool:
    """A capitalised word that may be a name: not all capitals, not English, not a title, label or street word.

    Cached: a function of the word and fixed word lists, asked about the same words (names,
    sentence openers) many times per text and across texts (~0.15 us a hit instead of ~1 us)."""
    w = _strip(word)
    key = w.casefold()
    return (
        len(w) > 1 and not w.isupper() and w[:1].isupper() and key not in COMMON_WORDS and key not in TITLE_WORDS
        and key not in LABEL_WORDS and key not in STREET_WORDS and key not in HONORIFICS and key not in _MONTHS
    )  # fmt: skip


_MONTHS = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
)
