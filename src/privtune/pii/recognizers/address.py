"""ADDRESS: US street lines, PO boxes, international street lines and unit lines.

``12 Main Street``, ``4051 N. Oak Ave, Apt 5``, ``77 Rue Lane, Springfield, IL 62704`` (the city,
state and ZIP become part of the span when they follow), ``PO Box 1234``, ``P.O. Box 77``,
``Post Office Box 9``. A house number is 1-5 digits, then 1-3 capitalised words, then a USPS
street suffix. ``order #12 Main``-like strings lack the suffix and stay clean.

International forms (the house number after the street):

* a street word first: ``Rue Platon 134``, ``Via Raffaele Conforti 74``, ``Calle Mayor 5``,
  ``Avenida Forças Armadas 83``, ``ul. Północna 73``, ``Unter den Linden 13``;
* a street-suffixed word: ``Landsberger Allee 2``, ``Lindenstrasse 40``, ``Brandenburgische
  Straße 58``, ``Fynshovedvej 34``, ``Idrettsveien 37``, ``Keizersgracht 12``,
  ``Pesolantie 32``, ``Östanlid``-like words need a suffix (``-vej``, ``-gatan``, ``-tie``...);
* optionally a leading building number, a unit (``Apt. 504``, ``Suite 256``, ``Wohnung 3``),
  and ``, 10115 Berlin`` / ``, 75008 Paris`` / ``, Weißenhorn, Germany 75095``;
* a building number, street words and a house number (``9791 Käbbatorp Locketorp 9``), or
  after ``on``/``at``/``to``/``address:`` street words and a number (``on Slovenčeva 18``),
  the words not being a floor, room, version, sprint, weekday or month;
* a unit line on its own (``Apt. 748``, ``Suite 262``) and military addresses
  (``PSC 1195, Box 5372 APO AE 44634``, ``Unit 2328 Box 6012 DPO AP 06109``,
  ``USNS Broberg FPO AE 35544``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from privtune.pii.scan import Bounded
from privtune.pii.spans import ADDRESS, Span

_STREET_SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Drive", "Dr", "Lane", "Ln", "Court", "Ct", "Place", "Pl", "Way", "Terrace", "Ter", "Circle", "Cir", "Highway", "Hwy", "Parkway", "Pkwy", "Square", "Sq", "Trail", "Trl", "Alley", "Branch", "Bridge", "Brook", "Brooks", "Burg", "Burgs", "Bypass", "Camp", "Canyon", "Cape", "Causeway", "Center", "Centers", "Circles", "Cliff", "Cliffs", "Club", "Common", "Corner", "Corners", "Course", "Courts", "Cove", "Coves", "Creek", "Crescent", "Crest", "Crossing", "Crossroad", "Curve", "Dale", "Dam", "Divide", "Drives", "Estate", "Estates", "Expressway", "Extension", "Extensions", "Fall", "Falls", "Ferry", "Field", "Fields", "Flat", "Flats", "Ford", "Fords", "Forest", "Forge", "Forges", "Fork", "Forks", "Fort", "Freeway", "Garden", "Gardens", "Gateway", "Glen", "Glens", "Green", "Greens", "Grove", "Groves", "Harbor", "Harbors", "Haven", "Heights", "Hill", "Hills", "Hollow", "Inlet", "Island", "Islands", "Isle", "Junction", "Junctions", "Key", "Keys", "Knoll", "Knolls", "Lake", "Lakes", "Land", "Landing", "Light", "Lights", "Loaf", "Lock", "Locks", "Lodge", "Loop", "Mall", "Manor", "Manors", "Meadow", "Meadows", "Mews", "Mill", "Mills", "Mission", "Motorway", "Mount", "Mountain", "Mountains", "Neck", "Orchard", "Oval", "Overpass", "Park", "Parks", "Parkways", "Pass", "Passage", "Path", "Pike", "Pine", "Pines", "Plain", "Plains", "Plaza", "Point", "Points", "Port", "Ports", "Prairie", "Radial", "Ramp", "Ranch", "Rapid", "Rapids", "Rest", "Ridge", "Ridges", "River", "Roads", "Route", "Row", "Rue", "Run", "Shoal", "Shoals", "Shore", "Shores", "Skyway", "Spring", "Springs", "Spur", "Spurs", "Squares", "Station", "Stravenue", "Stream", "Streets", "Summit", "Throughway", "Trace", "Track", "Trafficway", "Tunnel", "Turnpike", "Underpass", "Union", "Unions", "Valley", "Valleys", "Via", "Viaduct", "View", "Views", "Village", "Villages", "Ville", "Vista", "Walk", "Walks", "Wall", "Ways", "Well", "Wells"]
#: Street-type words, casefolded (``street``, ``via``, ``overpass``...): a capitalised name right
#: before one names a street, not a person.
STREET_WORDS: frozenset[str] = frozenset(
    [w.casefold() for w in _STREET_SUFFIXES] + ["via", "rue", "calle", "rua", "avenida", "strasse", "straße", "weg", "allee", "platz", "gasse", "vej", "gate", "plads", "laan", "straat", "gracht", "islands", "port", "village", "ways", "lodge", "shoal", "underpass", "locks", "plains"]
)
_ABBREVIATIONS = frozenset(["St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Pl", "Ter", "Cir", "Hwy", "Pkwy", "Sq", "Trl"])
_NAME_WORD = r"[A-Z][A-Za-z'’-]*\.?"
ADDRESS_RE = re.compile(
    rf"""
    \d(?<![\w#$.,-]\d)\d{{0,4}}[ ]
    (?:(?:N|S|E|W|North|South|East|West)\.?[ ])?
    (?:{_NAME_WORD}[ ]){{1,3}}
    (?:(?:{'|'.join(sorted(_ABBREVIATIONS, key=len, reverse=True))})\b\.?|(?:{'|'.join(sorted(set(_STREET_SUFFIXES), key=len, reverse=True))})\b)
    (?:,?[ ](?:Apt\.?|Apartment|Unit|Suite|Ste\.?|\#)[ ]?\d{{1,5}}[A-Za-z]?\b)?
    (?:,[ ][A-Z][A-Za-z]+(?:[ ][A-Z][A-Za-z]+)*,[ ][A-Z]{{2}}[ ]\d{{5}}(?:-\d{{4}})?\b)?
    """,
    re.X,
)


PO_BOX_RE = re.compile(
    r"(?<![\w.])(?:P\.?[ ]?O\.?|Post[ ]Office|PO)[ ]?Box[ ]\d{1,6}\b"
    r"(?:,[ ][A-Z][A-Za-z]+(?:[ ][A-Z][A-Za-z]+)*,[ ][A-Z]{2}[ ]\d{5}(?:-\d{4})?\b)?",
    re.I,
)


def _block(text: str, start: int, end: int, source: str) -> Span:
    """A street line with its building number before it, the cross street of a corner
    (``... and Paterson Pass``) and the postal block after it."""
    cross = _CROSS.match(text, end)
    if cross and cross.group(1).split()[-1].rstrip(".").casefold() in STREET_WORDS:
        end = cross.end()
    return Span(with_lead(text, start), postal_tail(text, end), ADDRESS, source=source)


#: A named street with no house number after ``on``/``at``/``along``/``off``: ``shows on Cinzia
#: Ford Street were``, ``the office at Wall Street`` (the full street word only, not ``St``).
NAMED_STREET_RE = re.compile(
    r"(?:(?<=\bon[ ])|(?<=\bat[ ])|(?<=\balong[ ])|(?<=\boff[ ]))(?:[A-ZÀ-ÖØ-Þ\u0100-\u017F][^\W\d_]*(?:['’-][^\W\d_]+)*[ ]){1,3}"
    r"(?:Street|Avenue|Road|Boulevard|Lane|Drive)\b"
)
_NAMED_STREET_CUE = re.compile(r" (?:Street|Avenue|Road|Boulevard|Lane|Drive)\b")


class NamedStreetRecognizer:
    """A street named without a house number (:data:`NAMED_STREET_RE`); texts with no digit too."""

    name = "street_name"
    types = (ADDRESS,)

    def find(self, text: str) -> list[Span]:
        if not _NAMED_STREET_CUE.search(text):
            return []
        return [Span(m.start(), m.end(), ADDRESS, source=self.name) for m in NAMED_STREET_RE.finditer(text)]


class AddressRecognizer:
    name = "address"
    types = (ADDRESS,)

    def find(self, text: str) -> list[Span]:
        out = [_block(text, m.start(), m.end(), self.name) for m in ADDRESS_RE.finditer(text)]
        if "box" in text.lower():
            out += [_block(text, m.start(), m.end(), self.name) for m in PO_BOX_RE.finditer(text)]
        return out


_W = r"[A-ZÀ-ÖØ-Þ\u0100-\u017F][\w'’.-]*"
_STREET_FIRST = (
    r"(?:Rue|Avenue|Av\.|Boulevard|Bd|Chemin|Place|Allée|Impasse|Quai|Via|Viale|Piazza|Corso|Calle|Carrer|Avenida|Av\.?|Rúa|Avda\.?|"
    r"Praça|Praca|Rambla|Plaça|Carretera|Ctra\.|Estrada|Strada|Trg|Rruga|Calea|Ulica|"
    r"Plaza|Paseo|Camino|Rua|R\.?|C/|Travessa|Largo|ul\.|ulica|Aleja|al\.|Unter|An[ ]der|Auf[ ]der)"
)
_STREET_SUFFIX = (
    r"(?:stra(?:ss|ß)e|str\.|weg|allee|platz|gasse|damm|ufer|vej|vei|veien|vegen|gade|gata|gatan|vägen|väg|"
    r"straat|laan|gracht|plein|dijk|kade|singel|tie|katu|kuja|polku|utca|út|cesta|ulica|iela|stígur|gata|vegur)"
)
#: Street types written in lower case after the name: ``Bécsi utca 35``, ``Gosposka ulica 61``,
#: ``Martin Linges veg 149``, ``Stensås terrasse 38``, ``Wesselényi u. 94``.
_LOWER_STREET = (
    r"(?:utca|útja|út|krt\.|körút|u\.|ulica|ul\.|veg|vei|vegen|veien|gata|gatan|terrasse|vej|straat|laan|cesta|iela|tänav|põik|maantee|puiestee|"
    r"gasse|straße|strasse|sträte|Sträte|str\.?|gaten|gade|sokak|sokağı|caddesi|bulvarı)"
)
#: Street types in lower case after a house number: ``46 rue Nationale``, ``12 calle Mayor``.
_LOWER_FIRST = (
    r"(?:[rR]ue|[cC]alle|[cC]arrer|[rR]ua|[rR]úa|[vV]iale|[vV]ia|[pP]iazza|[cC]orso|[aA]venida|[cC]hemin|[aA]llée|[iI]mpasse|"
    r"[qQ]uai|[pP]aseo|ulica|ul\.|boulevard|avenue|[sS]trada|[pP]raça|[rR]ambla|[tT]rg)"
)
#: Greek street words: ``πλατεία Καραισκάκη 262``, ``Λ. Αλκυονίδων 241``, ``χλμ Αθηνών 41``.
_GREEK_STREET = r"(?:[οΟ]δός|[οΟ]δ\.|[πΠ]λατεία|[λΛ]εωφόρος|[λΛ]εωφ\.|Λ\.|χλμ\.?|Πλ\.)"
_GREEK_STREET_RE = re.compile(_GREEK_STREET)
_INTL_BODY = rf"""
    (?:\d{{1,5}}[ ])?
    (?:
        {_STREET_FIRST}[ ](?:(?:{_W}|de|del|la|le|des|du|di|da|do|dos|das|den|der)[ ]){{1,4}}?\d{{1,4}}[a-zA-Z]?\b
      | (?:{_W}[ ]){{0,2}}[A-ZÀ-ÖØ-Þ\u0100-\u017F][\w'’-]*{_STREET_SUFFIX}[ ]\d{{1,4}}[a-zA-Z]?\b
      | (?:{_W}[ ]){{0,2}}(?:Straße|Strasse|Allee|Platz|Weg|Gasse|Ring|Damm|Chaussee|Gürtel|Ufer|Steig|Kai)[ ]\d{{1,4}}[a-zA-Z]?\b
      | {_W}[ ](?:[^\W\d_]+[ ]){{0,2}}{_LOWER_STREET}[ ]\d{{1,4}}[a-zA-Z]?\b\.?
      | (?:{_W}[ ]){{2,3}}gate[ ]\d{{1,4}}[a-zA-Z]?\b
      | \d{{1,5}}[ ]{_LOWER_FIRST}[ ](?:(?:de|del|la|le|des|du|di|da|dos|das|d')[ ]?){{0,2}}{_W}(?:[ ]{_W}){{0,2}}
      | \d{{1,5}}[ ]{_LOWER_FIRST}[ ](?:de|del|la|le|des|du|di|da|dos|das|d')[ ](?:la[ ]|les[ ])?[a-zà-ÿ][\w'’-]+(?:[ ]{_W}){{0,2}}
      | {_GREEK_STREET}[ ][\u0386-\u03CE]+\.?(?:[ ][\u0386-\u03CE]+){{0,2}}[ ]\d{{1,4}}\b
      | \d{{1,4}}(?:bis|ter)?,?[ ]{_STREET_FIRST}[ ](?:(?:de|del|la|le|des|du|di|da|dos|das|d')[ ]?){{0,2}}{_W}(?:[ ]{_W}){{0,2}}(?=,[ ]\d{{4,5}}[ ])
    )
    (?:,?[ ](?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Wohnung|Whg\.?|app\.|appt\.?|piso|bus)[ ]?\d{{1,5}}[A-Za-z]?\b)*
    (?:,[ ]\d{{4,5}}[ ][A-ZÀ-Þ][\w-]+(?:[ ][A-ZÀ-Þ][\w-]+)?)?
    """
#: Not after a word character, ``#``, ``$``, a dot, a comma or a dash; scanned from the characters
#: that may precede a street line (:class:`~privtune.pii.scan.Bounded`), where one of its first
#: characters follows: a digit, a capital, ``u``/``a`` (``ul.``, ``al.``) or a Greek street word's.
INTL_STREETS = Bounded(r"\w#$.,-", _INTL_BODY, re.X, first="\\dA-ZÀ-ÖØ-Þ\u0100-\u017Fuaοπλχ")
INTL_STREET_RE = INTL_STREETS.pattern
_NOT_STREETS = (
    "Floor|Level|Room|Gate|Page|Step|Stage|Phase|Version|Day|Week|Sprint|Team|Block|Wing|Desk|Table|Platform|Terminal|"
    "Line|Bus|Route|Exit|Chapter|Section|Article|Item|Figure|Slide|Row|Seat|Zone|Grade|Year|Class|Windows|Python|Java|"
    "Office|Series|Model|Pack|Part|Round|Season|Episode|Volume|Vol|No|Nr|Number|Ticket|Case|Order|Invoice|Box|Unit|Suite|Apt|"
    "Building|Lot|Batch|Test|Task|Story|Epic|Release|Build|Iteration|Q|Quarter|Month|Monday|Tuesday|Wednesday|Thursday|"
    "Friday|Saturday|Sunday|January|February|March|April|May|June|July|August|September|October|November|December"
)
_ALPHA_W = r"[A-ZÀ-ÖØ-Þ\u0100-\u017F\u0391-\u03A9][^\W\d_]*(?:['’-][^\W\d_]+)*\.?"
_SKIP = rf"(?i:{_NOT_STREETS}|PO|P\.O|Post|During|Since|Until|Before|After|From|Of|The|And|For|In|On|At|To)"
#: ``9791 Käbbatorp Locketorp 9`` (building number, street words, house number) and, after
#: ``on``/``at``/``address:``, ``Slovenčeva 18``: street words and a house number with no suffix.
_NUMBERED_BODY = rf"""
    (?:(?<![\w#$.,-])\d{{1,5}}[ ]|(?<=\b(?:on|at|to)[ ])|(?<=address:[ ])|(?<=address[ ]is[ ])|(?<=corner[ ]of[ ])|(?<=side[ ]of[ ])|(?<=\b(?:on|at|to)[ ]the[ ]corner[ ]of[ ]))
    (?:{_ALPHA_W}[ ]and[ ](?=[^\n]{{0,40}}\d))?
    (?:(?!{_SKIP}\b){_ALPHA_W}[ ]){{0,2}}(?!{_SKIP}\b)[A-ZÀ-ÖØ-Þ\u0100-\u017F\u0391-\u03A9][^\W\d_]+(?:['’-][^\W\d_]+)*[ ](?!(?:19|20)\d{{2}}\b)\d{{1,4}}[a-zA-Z]?(?![\w%.,:/-]?\d)(?![\w%])
    (?:,?[ ](?:Apt\.?|Apartment|Unit|Suite|Ste\.?)[ ]?\d{{1,5}}[A-Za-z]?\b)*
    """
#: Every match starts after a character that is not a word character, ``#``, ``$``, a dot, a
#: comma or a dash (a house number's look-behind, or the space after ``on``/``address:``...), so
#: the regex runs as a :class:`~privtune.pii.scan.Bounded` scan (its own look-behinds kept), from
#: a digit or a capital.
NUMBERED_STREETS = Bounded(r"\w#$.,-", _NUMBERED_BODY, re.X, first="\\dA-ZÀ-ÖØ-Þ\u0100-\u017F\u0391-\u03A9")
NUMBERED_STREET_RE = NUMBERED_STREETS.pattern
#: The lines after a street line in a postal block: units, city, region code, postcode,
#: country ("\n Apt. 806\n Tazarka\n, 21\n Tunisia 10973", ", Venezia, Italy",
#: " Apt. 538 Giessenburg Zuid-Holland"), each after a line break, a comma or a space.
_CAP = r"[A-ZÀ-Þ\u0100-\u017F\u0391-\u03A9][^\W\d_]*(?:['’-][^\W\d_]+)*"
_PARTICLE = r"(?:de|del|la|le|du|do|da|di|u|pri|an|am|bei|im|sur|en|upon|on|y|i|e|sous|lès|les|aan|den|der|op|ob)"
_SEP = re.compile(r"[ \t]*\n[ \t]*(?:[>}|?*•]{1,3}[ \t]*)?,?[ \t]*|[ \t]*,[ \t]*(?:\n[ \t]*)?|[ ](?=\S)")
_SEGMENT = re.compile(
    r"(?P<unit>(?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Wohnung|Whg\.?|Flat|Bus|Box)[ ]?\d{1,5}[A-Za-z]?\b)"
    r"|(?P<post>(?:[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2}|[A-Z]\d[A-Z][ ]\d[A-Z]\d|\d{4,6}(?:-\d{3,4})?|\d{2}-\d{3}|\d{3}[ ]\d{2})(?![ \w/.:-]?\d))"
    r"|(?P<code>\d{1,3}(?=[ \t]*\n))"
    rf"|(?P<words>{_CAP}(?:[ -](?:{_PARTICLE}[ -])*{_CAP}){{0,3}})(?P<wpost>[ ]\d{{4,6}}(?![ \w/.:-]?\d))?"
)
_BLANK_SEP = re.compile(r"[ \t]*\n[ \t]*(?:[>}|?*•]{1,3}[ \t]*)?\n[ \t]*(?:[>}|?*•]{1,3}[ \t]*)?")
#: After a word segment: a line break, a comma, the end, sentence punctuation or another capitalised word.
_WORDS_END = re.compile(r"(?=\s*$|[ \t]*(?:\n|,)|[.?!;)](?:\s|$)|[ ][A-ZÀ-Þ\u0100-\u017F\d])")
_MONTHS_DAYS = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "i", "the", "a", "an", "and", "or", "but", "he", "she", "we", "they", "it", "this", "that"]
)


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    """English country names, casefolded (Faker's list: ``south africa``, ``new zealand``)."""
    from faker.providers.address.en_US import Provider

    return frozenset(c.casefold() for c in Provider.countries)


def postal_tail(text: str, end: int) -> int:
    """The end of the postal block that continues a street line ending at ``end``."""
    from privtune.pii.wordlist import COMMON_WORDS

    for _ in range(6):
        sep = _BLANK_SEP.match(text, end)  # after a blank line only a country line continues the block
        blank = sep is not None
        sep = sep or _SEP.match(text, end)
        if sep is None:
            break
        seg = _SEGMENT.match(text, sep.end())
        if seg is None:
            break
        if (seg.group("code") and sep.group() == " ") or (blank and not seg.group("words")):
            break
        if seg.group("words"):
            if text[seg.end() : seg.end() + 1] == ":":
                break  # a label: "Mobile: 22 782310"
            words = [w.casefold() for w in seg.group("words").replace("-", " ").split()]
            if words[0] in _MONTHS_DAYS or (sep.group() == " " and words[0] in COMMON_WORDS):
                break
            country = " ".join(words) in countries()
            if blank and not country:
                break
            if not (seg.group("wpost") or country or _WORDS_END.match(text, seg.end())) and any(w in COMMON_WORDS for w in words):
                break  # "12 Main Street, Springfield is": a proper noun run ends the block, a sentence does not
        end = seg.end()
    return end


#: A building number before a street line that starts with a number or a street word
#: ("88072 79 Wolfe Street", "42486 Stensås terrasse 38").
_LEAD = re.compile(
    r"(?:(?<![\w.])(?:Apt\.?|Apartment|Suite|Ste\.|Unit)[ ]\d{1,5}[ ](?:\d{1,6}[ ])?|(?<![\w#$.,:/+-])\d{1,6}[ ])\Z"
)


#: "the corner of" before a street line is part of the address ("at the corner of Urzáiz 12
#: and Jónmundsson Manors").
_CORNER = re.compile(r"(?<![\w])[Tt]he[ ]corner[ ]of[ ]\Z")


#: A name joined to a street line by "and" is the other street of a corner ("Mikael and 3173
#: Kerry Way", "Sara and ul. Ciupagi 21").
_CORNER_NAME = re.compile(r"(?<![\w'’-])[A-ZÀ-ÖØ-Þ\u0100-\u017F][^\W\d_]+(?:['’-][^\W\d_]+)*[ ]and[ ]\Z")


def with_lead(text: str, start: int) -> int:
    m = _LEAD.search(text, max(0, start - 24), start)
    start = m.start() if m else start
    if text.endswith(" and ", 0, start):
        named = _CORNER_NAME.search(text, max(0, start - 40), start)
        start = named.start() if named else start
    corner = _CORNER.search(text, max(0, start - 14), start) if text.endswith("of ", 0, start) else None
    return corner.start() if corner else start


_CROSS = re.compile(rf"(?:[ ]St\.)?[ ]and[ ]((?:{_CAP}[ ]){{1,2}}{_CAP}(?:[ ]St\.)?)")
def _windows(text: str) -> list[tuple[int, int]]:
    """Merged character windows around each word + house number (a street line ends there or
    just after: a unit, a letter), wide enough for the street words before it."""
    out: list[tuple[int, int]] = []
    hits = [*_WORD_NUMBER.finditer(text), *_LOWER_STREET_NUMBER.finditer(text), *_NUMBER_LOWER_FIRST.finditer(text)]
    if not text.isascii() and _GREEK.search(text):
        hits += _GREEK_STREET_RE.finditer(text)
    for m in sorted(hits, key=lambda m: m.start()):
        lo, hi = max(0, m.start() - _BEFORE), min(len(text), m.end() + _AFTER)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


_BEFORE, _AFTER = 96, 48
_WORD_NUMBER = re.compile(r"[A-ZÀ-ÖØ-Þ\u0100-\u017F\u0391-\u03A9][^\W\d_]*\.? \d{1,4}(?![\d:/%])(?![.,]\d)")
#: Street lines with no capitalised word right before the number: "Bécsi utca 35", "46 rue Nationale"
#: (two regexes: an alternation of both would lose the regex engine's fast skip to a candidate).
_LOWER_STREET_NUMBER = re.compile(rf"{_LOWER_STREET}[ ]\d")
_NUMBER_LOWER_FIRST = re.compile(
    r"\d,? (?i:rue|calle|carrer|rua|viale|piazza|corso|avenida|chemin|allée|impasse|quai|paseo|ulica|ul\.|boulevard|avenue) "
)
_GREEK = re.compile(r"[\u0370-\u03ff]")
UNIT_RE = re.compile(r"(?<![\w.])(?<![\w,] )(?:Apt\.|Apartment|Suite|Ste\.)[ ]\d{1,5}[A-Za-z]?\b")
MILITARY_RE = re.compile(
    r"(?<![\w.])(?:(?:PSC|Unit|CMR)[ ]\d{1,5},?[ ]Box[ ]\d{1,5}|US(?:NS|NV|S|CGC)[ ][A-ZÀ-ÖØ-Þ\u0100-\u017F][^\W\d_]+)\s*\n?\s*[AFD]PO[ ]A[AEP][ ]\d{5}\b"
)


class InternationalAddressRecognizer:
    name = "address_intl"
    types = (ADDRESS,)

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        # every street line has a word followed by a house number (or a number before a street
        # type): the street regexes run only in windows around those, not over the whole text
        seen: set[tuple[int, int]] = set()
        for lo, hi in _windows(text):
            for a, b, _ in INTL_STREETS.spans(text, lo, hi):
                if (a, b) not in seen:
                    seen.add((a, b))
                    out.append(_block(text, a, b, self.name))
            for a, b, _ in NUMBERED_STREETS.spans(text, lo, hi):
                if (a, b) not in seen:
                    seen.add((a, b))
                    out.append(_block(text, a, b, self.name))
        if "Apt" in text or "Apartment" in text or "Suite" in text or "Ste." in text:
            out += [_block(text, m.start(), m.end(), self.name) for m in UNIT_RE.finditer(text)]
        if "PO " in text:
            out += [Span(m.start(), m.end(), ADDRESS, source=self.name) for m in MILITARY_RE.finditer(text)]
        return out
