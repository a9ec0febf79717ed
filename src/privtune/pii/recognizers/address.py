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
    (?<![\w#$.,-])\d{{1,5}}[ ]
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


class AddressRecognizer:
    name = "address"
    types = (ADDRESS,)

    def find(self, text: str) -> list[Span]:
        out = [Span(m.start(), m.end(), ADDRESS, source=self.name) for m in ADDRESS_RE.finditer(text)]
        if "box" in text.lower():
            out += [Span(m.start(), m.end(), ADDRESS, source=self.name) for m in PO_BOX_RE.finditer(text)]
        return out


_W = r"[A-ZÀ-ÖØ-Þ\u0100-\u017F][\w'’.-]*"
_STREET_FIRST = (
    r"(?:Rue|Avenue|Av\.|Boulevard|Bd|Chemin|Place|Allée|Impasse|Quai|Via|Viale|Piazza|Corso|Calle|Carrer|Avenida|Av\.?|"
    r"Plaza|Paseo|Camino|Rua|Travessa|Largo|ul\.|ulica|Aleja|al\.|Unter|An[ ]der|Auf[ ]der)"
)
_STREET_SUFFIX = (
    r"(?:stra(?:ss|ß)e|str\.|weg|allee|platz|gasse|damm|ufer|vej|vei|veien|vegen|gade|gata|gatan|vägen|väg|"
    r"straat|laan|gracht|plein|dijk|kade|singel|tie|katu|kuja|polku|utca|út|cesta|ulica|iela|stígur|gata|vegur)"
)
INTL_STREET_RE = re.compile(
    rf"""
    (?<![\w#$.,-])(?:\d{{1,5}}[ ])?
    (?:
        {_STREET_FIRST}[ ](?:(?:{_W}|de|del|la|le|des|du|di|da|dos|das|den|der)[ ]){{1,4}}?\d{{1,4}}[a-zA-Z]?\b
      | (?:{_W}[ ]){{0,2}}[A-ZÀ-ÖØ-Þ\u0100-\u017F][\w'’-]*{_STREET_SUFFIX}[ ]\d{{1,4}}[a-zA-Z]?\b
      | (?:{_W}[ ]){{0,2}}(?:Straße|Strasse|Allee|Platz|Weg|Gasse|Ring|Damm)[ ]\d{{1,4}}[a-zA-Z]?\b
      | \d{{1,4}}(?:bis|ter)?,?[ ]{_STREET_FIRST}[ ](?:(?:de|del|la|le|des|du|di|da|dos|das|d')[ ]?){{0,2}}{_W}(?:[ ]{_W}){{0,2}}(?=,[ ]\d{{4,5}}[ ])
    )
    (?:,?[ ](?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Wohnung|Whg\.?|app\.|appt\.?|piso|bus)[ ]?\d{{1,5}}[A-Za-z]?\b)*
    (?:,[ ]\d{{4,5}}[ ][A-ZÀ-Þ][\w-]+(?:[ ][A-ZÀ-Þ][\w-]+)?)?
    """,
    re.X,
)
_NOT_STREETS = (
    "Floor|Level|Room|Gate|Page|Step|Stage|Phase|Version|Day|Week|Sprint|Team|Block|Wing|Desk|Table|Platform|Terminal|"
    "Line|Bus|Route|Exit|Chapter|Section|Article|Item|Figure|Slide|Row|Seat|Zone|Grade|Year|Class|Windows|Python|Java|"
    "Office|Series|Model|Pack|Part|Round|Season|Episode|Volume|Vol|No|Nr|Number|Ticket|Case|Order|Invoice|Box|Unit|Suite|Apt|"
    "Building|Lot|Batch|Test|Task|Story|Epic|Release|Build|Iteration|Q|Quarter|Month|Monday|Tuesday|Wednesday|Thursday|"
    "Friday|Saturday|Sunday|January|February|March|April|May|June|July|August|September|October|November|December"
)
_ALPHA_W = r"[A-ZÀ-ÖØ-Þ\u0100-\u017F][^\W\d_]*(?:['’-][^\W\d_]+)*\.?"
_SKIP = rf"(?i:{_NOT_STREETS}|PO|P\.O|Post|During|Since|Until|Before|After|From|Of|The|And|For|In|On|At|To)"
#: ``9791 Käbbatorp Locketorp 9`` (building number, street words, house number) and, after
#: ``on``/``at``/``address:``, ``Slovenčeva 18``: street words and a house number with no suffix.
NUMBERED_STREET_RE = re.compile(
    rf"""
    (?:(?<![\w#$.,-])\d{{1,5}}[ ]|(?<=\b(?:on|at|to)[ ])|(?<=address:[ ])|(?<=address[ ]is[ ]))
    (?:(?!{_SKIP}\b){_ALPHA_W}[ ]){{0,2}}(?!{_SKIP}\b)[A-ZÀ-ÖØ-Þ\u0100-\u017F][^\W\d_]+(?:['’-][^\W\d_]+)*[ ](?!(?:19|20)\d{{2}}\b)\d{{1,4}}[a-zA-Z]?(?![\w%.,:/-]?\d)(?![\w%])
    (?:,?[ ](?:Apt\.?|Apartment|Unit|Suite|Ste\.?)[ ]?\d{{1,5}}[A-Za-z]?\b)*
    """,
    re.X,
)
#: The lines after a street line in a postal block: units, city, region code, postcode,
#: country ("\n Apt. 806\n Tazarka\n, 21\n Tunisia 10973"), each after a line break or a comma.
_CAP = r"[A-ZÀ-Þ\u0100-\u017F][^\W\d_]*(?:['’-][^\W\d_]+)*"
_TAIL = re.compile(
    r"(?:(?:[ \t]*(?:\n|\\n|,)|[ ]{2,})[ \t]*,?[ \t]*"
    r"(?:(?:Apt\.?|Apartment|Unit|Suite|Ste\.?)[ ]?\d{1,5}[A-Za-z]?"
    rf"|\d{{4,5}}[ ]{_CAP}(?:[ ]{_CAP}){{0,2}}|{_CAP}(?:[ ](?:{_CAP}|de|del|la|le|du|do|da|u|pri|an|am)){{0,3}}(?:[ ]\d{{4,5}})?"
    r"|[A-Z]{2}(?:[ ]\d{4,5})?|\d{4,5}|\d{1,2}(?=[ \t]*(?:\n|\\n)))"
    r"(?=[ \t]*(?:\n|\\n|,|$|[.?!;)](?:\s|$))|[ ]{2}))"
    r"{1,5}"
)
_WORD_NUMBER = re.compile(r"[^\W\d_]\.? (?!(?:19|20)\d{2}\b)\d{1,4}(?![\d:/%])(?![.,]\d)")
UNIT_RE = re.compile(r"(?<![\w.])(?<![\w,] )(?:Apt\.|Apartment|Suite|Ste\.)[ ]\d{1,5}[A-Za-z]?\b")
MILITARY_RE = re.compile(
    r"(?<![\w.])(?:(?:PSC|Unit|CMR)[ ]\d{1,5},?[ ]Box[ ]\d{1,5}|USN[SV][ ][A-Z][a-z]+)\s*\n?\s*[AFD]PO[ ]A[AEP][ ]\d{5}\b"
)


class InternationalAddressRecognizer:
    name = "address_intl"
    types = (ADDRESS,)

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        if _WORD_NUMBER.search(text):  # every street line has a word followed by a house number
            for rx in (INTL_STREET_RE, NUMBERED_STREET_RE):
                for m in rx.finditer(text):
                    tail = _TAIL.match(text, m.end())
                    out.append(Span(m.start(), tail.end() if tail else m.end(), ADDRESS, source=self.name))
        if "Apt" in text or "Apartment" in text or "Suite" in text or "Ste." in text:
            out += [Span(m.start(), m.end(), ADDRESS, source=self.name) for m in UNIT_RE.finditer(text)]
        if "PO " in text:
            out += [Span(m.start(), m.end(), ADDRESS, source=self.name) for m in MILITARY_RE.finditer(text)]
        return out
