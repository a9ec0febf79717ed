"""ADDRESS: US street lines and PO boxes.

``12 Main Street``, ``4051 N. Oak Ave, Apt 5``, ``77 Rue Lane, Springfield, IL 62704`` (the city,
state and ZIP become part of the span when they follow), ``PO Box 1234``, ``P.O. Box 77``,
``Post Office Box 9``. A house number is 1-5 digits, then 1-3 capitalised words, then a USPS
street suffix. ``order #12 Main``-like strings lack the suffix and stay clean.
"""

from __future__ import annotations

import re

from privtune.pii.spans import ADDRESS, Span

_STREET_SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Drive", "Dr", "Lane", "Ln", "Court", "Ct", "Place", "Pl", "Way", "Terrace", "Ter", "Circle", "Cir", "Highway", "Hwy", "Parkway", "Pkwy", "Square", "Sq", "Trail", "Trl", "Alley", "Branch", "Bridge", "Brook", "Brooks", "Burg", "Burgs", "Bypass", "Camp", "Canyon", "Cape", "Causeway", "Center", "Centers", "Circles", "Cliff", "Cliffs", "Club", "Common", "Corner", "Corners", "Course", "Courts", "Cove", "Coves", "Creek", "Crescent", "Crest", "Crossing", "Crossroad", "Curve", "Dale", "Dam", "Divide", "Drives", "Estate", "Estates", "Expressway", "Extension", "Extensions", "Fall", "Falls", "Ferry", "Field", "Fields", "Flat", "Flats", "Ford", "Fords", "Forest", "Forge", "Forges", "Fork", "Forks", "Fort", "Freeway", "Garden", "Gardens", "Gateway", "Glen", "Glens", "Green", "Greens", "Grove", "Groves", "Harbor", "Harbors", "Haven", "Heights", "Hill", "Hills", "Hollow", "Inlet", "Island", "Islands", "Isle", "Junction", "Junctions", "Key", "Keys", "Knoll", "Knolls", "Lake", "Lakes", "Land", "Landing", "Light", "Lights", "Loaf", "Lock", "Locks", "Lodge", "Loop", "Mall", "Manor", "Manors", "Meadow", "Meadows", "Mews", "Mill", "Mills", "Mission", "Motorway", "Mount", "Mountain", "Mountains", "Neck", "Orchard", "Oval", "Overpass", "Park", "Parks", "Parkways", "Pass", "Passage", "Path", "Pike", "Pine", "Pines", "Plain", "Plains", "Plaza", "Point", "Points", "Port", "Ports", "Prairie", "Radial", "Ramp", "Ranch", "Rapid", "Rapids", "Rest", "Ridge", "Ridges", "River", "Roads", "Route", "Row", "Rue", "Run", "Shoal", "Shoals", "Shore", "Shores", "Skyway", "Spring", "Springs", "Spur", "Spurs", "Squares", "Station", "Stravenue", "Stream", "Streets", "Summit", "Throughway", "Trace", "Track", "Trafficway", "Tunnel", "Turnpike", "Underpass", "Union", "Unions", "Valley", "Valleys", "Via", "Viaduct", "View", "Views", "Village", "Villages", "Ville", "Vista", "Walk", "Walks", "Wall", "Ways", "Well", "Wells"]
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
