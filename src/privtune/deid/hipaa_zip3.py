"""The 17 three-digit ZIP prefixes HIPAA Safe Harbor requires to be replaced by ``000``.

45 CFR 164.514(b)(2)(i)(B) allows the initial three digits of a ZIP code only when the
geographic unit formed by all ZIPs with those digits holds more than 20,000 people; otherwise
they must become ``000``. Per the HHS Office for Civil Rights "Guidance Regarding Methods for
De-identification of Protected Health Information in Accordance with the HIPAA Privacy Rule"
(November 26, 2012, section 3.2, Q&A "ZIP codes"), using 2000 Census data these prefixes are:
036, 059, 063, 102, 203, 556, 692, 790, 821, 823, 830, 831, 878, 879, 884, 890 and 893.
"""

from __future__ import annotations

RESTRICTED_ZIP3: frozenset[str] = frozenset(
    {"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831",
     "878", "879", "884", "890", "893"}
)  # fmt: skip
assert len(RESTRICTED_ZIP3) == 17
