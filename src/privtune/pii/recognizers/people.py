"""PERSON for people who are not in the roster: relatives, candidates, references.

Three cues, each producing a span over the name only (titles and cue words stay outside, a
possessive ``'s`` too):

* an honorific: ``Mr. Okafor``, ``Dr Jane Doe``, ``Mrs. Long`` (any capitalised words follow);
* a context word right before the name: ``my husband Tom``, ``candidate Priya Patel``,
  ``reference: Lena Fischer``, ``her son, Max``, ``my colleague Anna``, ``named him Temirbek``
  (relatives, candidates, references, roles).
  The name must be capitalised, or be a gazetteer name that is not a common English word;
* a capitalised bigram of a gazetteer first name and a gazetteer last name (``Lena Fischer``);
  the first name must not be a common English word (``Will``, ``Grant``) unless the last name
  is not one either and is capitalised.

The gazetteer is the union of Faker's per-locale first and last names (English, German,
French, Spanish, Italian, Dutch, Portuguese, Polish, Indian English, ...), read once, so
no data is downloaded. Names Faker does not know are still found after an honorific or a
context word; without any cue they need the roster or an NER backend.
"""

from __future__ import annotations

import importlib
import unicodedata
from functools import lru_cache

from privtune.pii.recognizers.address import STREET_WORDS
from privtune.pii.scan import keys, words
from privtune.pii.spans import PERSON, Span
from privtune.pii.wordlist import COMMON_WORDS

GAZETTEER_LOCALES: tuple[str, ...] = (
    "en_US", "en_GB", "en_IE", "en_CA", "en_AU", "en_IN", "en_NZ", "en_KE", "en_NG", "ga_IE",
    "de_DE", "de_AT", "de_CH", "fr_FR", "fr_BE", "fr_CA", "fr_CH", "es_ES", "es_MX", "es_AR",
    "es_CL", "es_CO", "nl_NL", "nl_BE", "it_IT", "pt_BR", "pt_PT", "pl_PL", "sv_SE", "da_DK",
    "no_NO", "fi_FI", "is_IS", "tr_TR", "cs_CZ", "sk_SK", "sl_SI", "hr_HR", "hu_HU", "ro_RO",
    "et_EE", "lt_LT", "lv_LV", "id_ID", "ja_JP", "zh_CN", "zh_TW", "en_PK", "ha_NG", "ig_NG", "yo_NG", "zu_ZA",
    "sw", "tw_GH", "fr_DZ", "fr_QC", "es_CA", "de_LI", "de_LU", "az_AZ", "uz_UZ", "vi_VN",
    # Cyrillic and Greek lists, transliterated (``Дмитрий`` -> ``dmitriy``, ``dmitry``, ``dmitrij``)
    "ru_RU", "uk_UA", "bg_BG", "mk_MK", "el_GR",
)  # fmt: skip

#: Honorifics in English, German, French, Spanish and Dutch (``M`` only with its dot: ``M. Dupont``).
HONORIFICS: frozenset[str] = frozenset(
    ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "dame", "herr", "frau", "hr", "fr", "m", "mme",
     "mlle", "monsieur", "madame", "mademoiselle", "sr", "sra", "srta", "señor", "señora", "señorita", "don", "doña",
     "dhr", "mevr", "mw", "heer", "mevrouw", "mej", "herrn", "senhor", "senhora", "sig", "sra"]
)  # fmt: skip
#: Words after which a name is introduced: ``my name is Viva Ujváry``, ``Name: Vetle Hansen``,
#: ``I'm Randy``, ``call me Gerth``, ``ich bin``, ``je m'appelle``, ``me llamo``, ``ik ben``.
INTRO_WORDS: frozenset[str] = frozenset(
    ["name", "names", "surname", "firstname", "lastname", "i'm", "i’m", "im", "heiße", "heisse", "appelle", "llamo",
     "nom", "nombre", "naam"]
)  # fmt: skip
_INTRO_SKIP = frozenset(["is", "was", "ist", "est", "es", "is:", "s"])
CUE_WORDS: frozenset[str] = frozenset(
    ["husband", "wife", "spouse", "partner", "fiance", "fiancé", "fiancee", "fiancée", "boyfriend", "girlfriend", "son", "daughter", "mother", "father", "mom", "mum", "dad", "brother", "sister", "sibling", "stepson", "stepdaughter", "stepmother", "stepfather", "uncle", "aunt", "cousin", "nephew", "niece", "grandmother", "grandfather", "grandma", "grandpa", "grandson", "granddaughter", "child", "baby", "candidate", "applicant", "interviewee", "reference", "referee", "recruiter", "contractor", "consultant", "intern", "neighbour", "neighbor", "friend", "landlord", "landlady", "tenant", "caregiver", "nanny", "guardian", "named", "called", "contact", "kid", "kids", "colleague", "coworker", "co-worker", "boss", "teammate", "mentor", "mentee", "supervisor", "songwriter", "producer", "commenter", "author", "writer", "singer", "actor", "actress", "journalist", "reporter", "lawyer", "attorney", "doctor", "nurse", "therapist", "counsellor", "counselor", "witness", "employee", "manager", "beneficiary", "widow", "widower", "heir"]
)
# Words that often follow a cue but are not names.
_NOT_NAMES: frozenset[str] = frozenset(
    ["i", "he", "she", "they", "we", "it", "his", "her", "their", "my", "our", "your", "the", "a", "an", "and", "or", "but", "is", "was", "who", "which", "that", "this",
     "said", "says", "told", "asked", "will", "can", "has", "had", "were", "did", "does", "got", "went", "came", "made", "took", "gave", "sent", "also", "too", "tel", "fax", "mobile", "phone", "email", "mail", "web", "www", "cell", "office"]
)
#: Lower-case name particles allowed inside a name (``van der Zijl``, ``da Silva``).
PARTICLES: frozenset[str] = frozenset(["van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "la", "le", "ten", "ter", "bin", "al"])
_INITIALS = frozenset("abcdefghijklmnopqrstuvwxyz")
_INTRO_BEFORE = {"me": frozenset(["call", "calls", "called"]), "am": frozenset(["i"]), "bin": frozenset(["ich"]), "ben": frozenset(["ik"]),
                 "him": frozenset(["named", "called"]), "her": frozenset(["named", "called"]), "them": frozenset(["named", "called"])}
_MAX_NAME_TOKENS = 4
#: Job-title and organisation words that gazetteers list as names (``Junior``, ``Chase``) but
#: that never start or continue a name in HR prose.
TITLE_WORDS: frozenset[str] = frozenset(
    ["junior", "senior", "lead", "chief", "head", "principal", "staff", "associate", "assistant", "intern", "manager", "director", "engineer", "developer", "analyst", "accountant", "specialist", "consultant", "software", "hardware", "data", "support", "customer", "sales", "marketing", "operations", "finance", "legal", "officer", "executive", "president", "vice", "coordinator", "administrator", "representative", "designer", "scientist", "architect", "technician", "recruiter", "team", "department", "group", "office", "hr", "it", "payroll", "benefits", "engineering", "product", "services", "service", "business", "partner", "people", "talent", "culture", "visa", "suite", "apt", "apartment", "unit", "box"]
)


def _names(attr: str) -> set[str]:
    out: set[str] = set()
    for loc in GAZETTEER_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ImportError:
            continue
        for a in (attr, f"{attr}_female", f"{attr}_male", f"{attr}_nonbinary", attr.replace("_names", "_romanized_names"),
                  attr.replace("_names", "_romanized_names_female"), attr.replace("_names", "_romanized_names_male")):
            values = getattr(provider, a, None)
            if isinstance(values, (list, tuple, dict, set, frozenset)):
                out.update(str(v).casefold() for v in values if str(v).isalpha() or "-" in str(v))
    return out


_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "aa", "ø": "oe", "æ": "ae"})


#: Cyrillic and Greek letters with their common Latin spellings (first: the usual English one).
_TRANSLIT: dict[str, tuple[str, ...]] = {
    "а": ("a",), "б": ("b",), "в": ("v",), "г": ("g", "h"), "ґ": ("g",), "д": ("d",), "е": ("e", "ye"), "ё": ("yo", "e"),
    "є": ("ye", "ie"), "ж": ("zh",), "з": ("z",), "и": ("i", "y"), "і": ("i",), "ї": ("yi", "i"), "й": ("y", "i", "j"),
    "к": ("k",), "л": ("l",), "м": ("m",), "н": ("n",), "о": ("o",), "п": ("p",), "р": ("r",), "с": ("s",), "т": ("t",),
    "у": ("u",), "ф": ("f",), "х": ("kh", "h"), "ц": ("ts", "c"), "ч": ("ch",), "ш": ("sh",), "щ": ("shch", "sht"),
    "ъ": ("", "a"), "ы": ("y",), "ь": ("",), "э": ("e",), "ю": ("yu", "iu", "ju"), "я": ("ya", "ia", "ja"),
    "ј": ("j",), "љ": ("lj",), "њ": ("nj",), "ќ": ("kj",), "ѓ": ("gj",), "ѕ": ("dz",), "џ": ("dzh", "dz"),
    "α": ("a",), "ά": ("a",), "β": ("v",), "γ": ("g",), "δ": ("d",), "ε": ("e",), "έ": ("e",), "ζ": ("z",), "η": ("i",),
    "ή": ("i",), "θ": ("th",), "ι": ("i",), "ί": ("i",), "ϊ": ("i",), "ΐ": ("i",), "κ": ("k",), "λ": ("l",), "μ": ("m",),
    "ν": ("n",), "ξ": ("x", "ks"), "ο": ("o",), "ό": ("o",), "π": ("p",), "ρ": ("r",), "σ": ("s",), "ς": ("s",),
    "τ": ("t",), "υ": ("y", "i"), "ύ": ("y", "i"), "ϋ": ("y",), "φ": ("f",), "χ": ("ch", "h"), "ψ": ("ps",), "ω": ("o",),
    "ώ": ("o",),
}  # fmt: skip


def transliterations(name: str, limit: int = 8) -> set[str]:
    """Latin spellings of a casefolded Cyrillic or Greek name (at most ``limit``)."""
    if name.endswith(("ий", "ый")):  # "Дмитрий" -> "dmitry" as well as "dmitriy"
        return {n + "y" for n in _spell(name[:-2], limit)} | _spell(name, limit)
    return _spell(name, limit)


def _spell(name: str, limit: int) -> set[str]:
    out = [""]
    for ch in name:
        opts = _TRANSLIT.get(ch, (ch,))
        out = [o + x for o in out for x in opts][:limit]
    return {o for o in out if o.isascii()}


def variants(name: str) -> set[str]:
    """A casefolded name with its transliterations: ``müller`` -> ``mueller``, ``muller``."""
    if not name.isascii() and any(ch in _TRANSLIT for ch in name):
        return transliterations(name)
    out = {name, name.translate(_GERMAN)}
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    out.add(folded.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("ł", "l").replace("đ", "d"))
    return out


@lru_cache(maxsize=1)
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), casefolded, from Faker's locales, with transliterations."""
    first: set[str] = set()
    last: set[str] = set()
    for n in _names("first_names"):
        first |= variants(n)
    for n in _names("last_names"):
        last |= variants(n)
    return frozenset(first), frozenset(last)


class PeopleRecognizer:
    """Names of people outside the roster, found by honorifics, context words and bigrams."""

    name = "people"
    types = (PERSON,)

    def __init__(self, first_names: frozenset[str] | None = None, last_names: frozenset[str] | None = None) -> None:
        if first_names is None or last_names is None:
            first_names, last_names = gazetteer()
        self.first = first_names
        self.last = last_names
        self._anchors = HONORIFICS | CUE_WORDS | INTRO_WORDS | first_names | frozenset(["me", "am", "bin", "ben", "him", "her", "them"]) | _INITIALS

    def find(self, text: str) -> list[Span]:
        toks = words(text)
        folded = keys(text)
        out: list[Span] = []
        anchors = self._anchors
        i, n = 0, len(toks)
        while i < n:
            _s, e, word = toks[i]
            key = folded[i]
            if key not in anchors and (key[-2:] not in ("'s", "’s") or key[:-2] not in anchors):
                if word[0].isupper() and self._unknown_then_surname(text, toks, i):
                    # an unknown capitalised word before a gazetteer surname: "Emmie Ström", "Szonja Kovács"
                    out.append(self._span(text, toks, i, 2, 0.75))
                    i += 2
                    continue
                i += 1
                continue
            taken = 0
            intro = key in INTRO_WORDS or (key in _INTRO_BEFORE and i > 0 and toks[i - 1][2].casefold() in _INTRO_BEFORE[key])
            if intro and i + 1 < n:
                j = i + 1
                if toks[j][2].casefold() in _INTRO_SKIP and j + 1 < n:
                    j += 1
                if _gap(text, toks[j - 1][1], toks[j][0], allow_punct=True):
                    taken = self._name_run(text, toks, j, need_cap=False, any_word=False)
                    if taken:
                        out.append(self._span(text, toks, j, taken, 0.9))
                        i = j + taken
                        continue
            if len(word) == 1:
                # an initial before a surname: "J. Smith"
                if word.isupper() and key not in HONORIFICS and i + 1 < n and text[e : toks[i + 1][0]] == ". ":
                    nxt = _strip_possessive(toks[i + 1][2])
                    if nxt[:1].isupper() and not nxt.isupper() and nxt.casefold() in self.last:
                        out.append(self._span(text, toks, i, 2, 0.85))
                        i += 2
                        continue
                if key != "m" or text[e : e + 1] != ".":
                    i += 1
                    continue
            dotted = key not in _NEED_DOT or (text[e : e + 1] == "." and not (word.isupper() and len(word) > 1))
            if key in HONORIFICS and dotted and i + 1 < n and _gap(text, e, toks[i + 1][0], allow_dot=True):
                taken = self._name_run(text, toks, i + 1, need_cap=True, any_word=True)
                score = 0.95
            elif key in CUE_WORDS and i + 1 < n and _gap(text, e, toks[i + 1][0], allow_punct=True):
                taken = self._name_run(text, toks, i + 1, need_cap=False, any_word=False)
                score = 0.9
            if taken:
                out.append(self._span(text, toks, i + 1, taken, score))
                i += 1 + taken
                continue
            if word[-2:] in ("'s", "’s") and word[:-2].casefold() in self.first and word[:1].isupper():
                key = word[:-2].casefold()  # "Tom's wife": a lone possessive first name
                if key not in COMMON_WORDS and key not in TITLE_WORDS and len(key) > 2 and _single_ok(text, toks, i):
                    out.append(self._span(text, toks, i, 1, 0.7))
                i += 1
                continue
            if word[:1].isupper() and not word.isupper() and key in self.first and key not in TITLE_WORDS and key not in _FUNCTION_WORDS:
                rest = self._surname_run(text, toks, i + 1, key in COMMON_WORDS) if i + 1 < n else 0
                if self._street_next(toks, i + 1 + rest):
                    i += 2 + rest  # a street named after a person is an address, not a person
                    continue
                if rest:
                    out.append(self._span(text, toks, i, 1 + rest, 0.85))
                    i += 1 + rest
                    continue
                if key not in COMMON_WORDS and len(key) > 2 and _single_ok(text, toks, i):
                    # a lone gazetteer first name that is not an English word: "said Anna to Michelle"
                    out.append(self._span(text, toks, i, 1, 0.7))
                    i += 1
                    continue
            elif word.islower() and key in self.first and key not in COMMON_WORDS and len(key) > 2 and i + 1 < n:
                # chat-style lower case: "talked to maria garcia" (both parts gazetteer names, neither English)
                nk = _strip_possessive(toks[i + 1][2])
                nkey = nk.casefold()
                if nk.islower() and nkey in self.last and nkey not in COMMON_WORDS and len(nkey) > 2 and _gap(text, e, toks[i + 1][0]):
                    out.append(self._span(text, toks, i, 2, 0.75))
                    i += 2
                    continue
            i += 1
        return out

    def _name_run(self, text: str, toks: list[tuple[int, int, str]], j: int, *, need_cap: bool, any_word: bool) -> int:
        """How many tokens from ``j`` on form a name (0 if none)."""
        count = 0
        while j + count < len(toks) and count < _MAX_NAME_TOKENS:
            s, e, word = toks[j + count]
            if count and not _gap(text, toks[j + count - 1][1], s):
                break
            if count and toks[j + count - 1][2][-2:] in ("'s", "’s"):
                break
            key = _strip_possessive(word).casefold()
            if word in PARTICLES and j + count + 1 < len(toks) and _gap(text, e, toks[j + count + 1][0]):
                nxt = toks[j + count + 1][2]
                if nxt[:1].isupper() or nxt in PARTICLES:
                    count += 1
                    continue
            if key in _NOT_NAMES or key in HONORIFICS or key in _UNIT_WORDS:
                break
            if not any_word and not count and key in TITLE_WORDS:
                break
            cap = word[:1].isupper()
            known = key in self.first or key in self.last
            if (cap and (any_word or known or key not in COMMON_WORDS)) or (not need_cap and known and key not in COMMON_WORDS):
                count += 1
            else:
                break
        return count

    def _surname_run(self, text: str, toks: list[tuple[int, int, str]], j: int, first_is_word: bool) -> int:
        """Tokens from ``j`` that continue a first name into a full name (0 if none).

        Capitalised tokens (or particles before one), up to two; each must be a gazetteer last
        name, or an unknown word that is not common English. After a first name that is itself
        a common word (``Will``, ``Grant``) only gazetteer last names count.
        """
        count = good = 0
        while j + count < len(toks) and count < _MAX_NAME_TOKENS - 1:
            s, _e, word = toks[j + count]
            prev = toks[j + count - 1]
            if not (_gap(text, prev[1], s) or (len(prev[2]) == 1 and text[prev[1] : s] == ". ")) or toks[j + count - 1][2][-2:] in ("'s", "’s"):
                break
            if word in PARTICLES:
                count += 1
                continue
            if len(word) == 1 and word.isupper() and j + count + 1 < len(toks) and text[toks[j + count][1] : toks[j + count + 1][0]] in (". ", " "):
                # a middle initial: "Isaac A. Heath", "Thomas J Møller" (kept only if a surname follows)
                count += 1
                continue
            key = _strip_possessive(word).casefold()
            if not word[:1].isupper() or (word.isupper() and len(word) > 1) or len(key) < 2 or key in TITLE_WORDS or (key in STREET_WORDS and key not in self.last):
                break
            if (key in self.last and not (first_is_word and key in COMMON_WORDS)) or (not first_is_word and key not in COMMON_WORDS and key not in self.first and key not in _NOT_NAMES):
                count += 1
                good = count
            elif key in self.first and key not in COMMON_WORDS:
                count += 1  # a middle name, or a last name that some locale also lists as a first name
                good = count
            else:
                break
        return good

    def _unknown_then_surname(self, text: str, toks: list[tuple[int, int, str]], i: int) -> bool:
        s, e, word = toks[i]
        key = word.casefold()
        if not (word[:1].isupper() and not word.isupper() and len(key) > 2 and key not in COMMON_WORDS and key not in TITLE_WORDS):
            return False
        if key in STREET_WORDS or key in _NOT_AFTER or i + 1 >= len(toks) or not _gap(text, e, toks[i + 1][0]):
            return False
        if _sentence_start(text, s) and not (i + 2 < len(toks) and toks[i + 2][2].casefold() in _NAME_VERBS):
            return False
        nk = toks[i + 1][2]
        nkey = _strip_possessive(nk).casefold()
        return (
            nk[:1].isupper() and not nk.isupper() and nkey in self.last and nkey not in COMMON_WORDS
            and nkey not in STREET_WORDS and nkey not in TITLE_WORDS and not self._street_next(toks, i + 2)
        )  # fmt: skip

    def _street_next(self, toks: list[tuple[int, int, str]], j: int) -> bool:
        """True when the token after a name is a street word: ``Emily Via``, ``Tyler Falls St``."""
        return j < len(toks) and toks[j][2].casefold().rstrip(".") in STREET_WORDS

    def _span(self, text: str, toks: list[tuple[int, int, str]], j: int, count: int, score: float) -> Span:
        start = toks[j][0]
        last = toks[j + count - 1]
        end = last[1] - 2 if last[2][-2:] in ("'s", "’s") and len(last[2]) > 2 else last[1]
        return Span(start, end, PERSON, score=score, source=self.name)


#: Words after which a capitalised word is a title, a product or a place rather than a name.
_NOT_AFTER = frozenset(["the", "a", "an", "of", "in", "via", "rue", "avenue", "street", "calle", "strasse", "hotel", "restaurant", "team", "project", "release", "version", "hurricane", "storm", "lake", "mount", "saint", "st", "san", "santa", "fort"])


_NAME_VERBS = frozenset(["is", "was", "has", "had", "will", "said", "says", "asked", "asks", "wants", "wanted", "called", "can", "could", "would", "should", "and", "from", "left", "joined", "spent", "lives", "works", "shouted", "told", "sent", "and"])


#: Unit words that end a name run ("Ms. Lisa Douglas Apt. 606").
_UNIT_WORDS = frozenset(["apt", "apartment", "suite", "unit", "ste", "box", "phd", "md", "jr"])
#: Honorifics that are only honorifics with their dot and not in capitals ("Hr. Weber", not "HR").
_NEED_DOT = frozenset(["m", "hr", "fr", "sr", "mw"])
#: Short English function words that some locale's gazetteer lists as a first name ("As", "An").
_FUNCTION_WORDS = frozenset(["as", "at", "in", "on", "of", "to", "is", "it", "an", "or", "so", "no", "do", "he", "we", "me", "my", "by", "up", "if", "be", "us", "am", "the", "and", "for", "but", "per", "via", "hr"])


def _sentence_start(text: str, s: int) -> bool:
    before = text[max(0, s - 3) : s].rstrip()
    return not before or before[-1] in ".!?:\n\"“(}>"


def _single_ok(text: str, toks: list[tuple[int, int, str]], i: int) -> bool:
    """A lone capitalised first name counts unless a title-like word precedes it or a capitalised
    word follows (a place or an organisation: ``Santa Bárbara``, ``Jordan Valley``)."""
    if i > 0 and toks[i - 1][2].casefold() in _NOT_AFTER:
        return False
    s = toks[i][0]
    if text[max(0, s - 2) : s].strip() in ("", ".", "!", "?", ":") and (s < 2 or text[s - 1].isspace() or s == 0):
        # a sentence start: "Visa renewal", "Wage garnishment"; a name there needs a verb or a comma after it
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        after = text[toks[i][1] : nxt[0]] if nxt else ""
        if not (after.startswith(",") or (nxt is not None and nxt[2].casefold() in _NAME_VERBS)):
            return False
    if i + 1 < len(toks):
        nxt = toks[i + 1]
        if text[toks[i][1] : nxt[0]] == " " and nxt[2][:1].isupper():
            return False
    return True


def _strip_possessive(word: str) -> str:
    return word[:-2] if len(word) > 2 and word[-2:] in ("'s", "’s") else word


def _gap(text: str, a: int, b: int, *, allow_dot: bool = False, allow_punct: bool = False) -> bool:
    gap = text[a:b]
    if gap == " ":
        return True
    if allow_dot and gap in (". ", "."):
        return gap == ". "
    if allow_punct and gap[:1] == ":" and gap[1:].strip(" \t") == "" and 0 < len(gap) <= 8:
        return True  # "Name:    Landerico Hidalgo" (a form's aligned columns)
    return bool(allow_punct and gap in (", ", ": ", " - ", ": ", " (", "\n", "? ")) or gap == "  "
