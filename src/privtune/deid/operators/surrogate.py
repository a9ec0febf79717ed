"""``surrogate``: a realistic fake value, the same for a person wherever they appear.

For a name mention in text the form follows the mention: a known employee's first name alone
becomes the surrogate first name, their last name alone the surrogate last name, ``LAST,
FIRST`` stays in that order; any other mention becomes the full surrogate name. E-mails are
built from the surrogate name, so a person's fake e-mail matches their fake name.
"""

from __future__ import annotations

import re
from typing import Any

from privtune.deid.keys import person_key
from privtune.deid.operators.base import Env, Target
from privtune.deid.policy import SurrogateOp

_BY_ENTITY = {"PERSON": "name", "EMAIL": "email", "PHONE": "phone", "SSN": "ssn",
              "ADDRESS": "address", "IBAN": "iban"}
_BY_COLUMN = (
    ("first_name", r"first|given"), ("last_name", r"last|family|surname"), ("email", r"mail"),
    ("phone", r"phone|mobile|cell|fax"), ("ssn", r"ssn|social"), ("iban", r"iban|account"),
    ("address", r"address|street"), ("name", r"name|contact"),
)  # fmt: skip


def entity_for(spec: SurrogateOp, target: Target) -> str | None:
    """The kind of fake value for ``target`` (explicit, else from entity type or column name)."""
    if spec.entity != "auto":
        return spec.entity
    if target.entity is not None:
        return _BY_ENTITY.get(target.entity)
    col = (target.column or "").lower()
    for kind, pattern in _BY_COLUMN:
        if re.search(pattern, col):
            return kind
    return None


class Surrogate:
    def __init__(self, spec: SurrogateOp, env: Env) -> None:
        self.spec = spec
        self.env = env

    def apply(self, value: Any, target: Target) -> Any:
        if value is None or str(value).strip() == "":
            return value
        kind = entity_for(self.spec, target)
        person = target.person or str(value)
        if kind is None:
            return f"[{target.entity or 'REDACTED'}]"
        s = self.env.surrogates
        if kind == "name" and target.entity is not None:
            return self._name_mention(str(value), person)
        loc = self.spec.locale
        if kind in ("name", "first_name", "last_name"):
            first, last = s.name(person, loc)
            return {"name": f"{first} {last}", "first_name": first, "last_name": last}[kind]
        if kind in ("email", "address", "iban"):
            return {"email": s.email, "address": s.address, "iban": s.iban}[kind](person, loc)
        return {"phone": s.phone, "ssn": s.ssn}[kind](person)

    def _name_mention(self, surface: str, person: str) -> str:
        first, last = self.env.surrogates.name(person, self.spec.locale)
        real = self.env.people.person(person)
        said = person_key(surface)
        possessive = ""
        if said.endswith("'s") or said.endswith("’s"):
            possessive, said = surface[-2:], said[:-2]
        if real is not None:
            if said == person_key(real.first):
                return first + possessive
            if said == person_key(real.last):
                return last + possessive
            if "," in said:
                return f"{last}, {first}{possessive}"
        elif " " not in said and "," not in said:
            return first + possessive  # an unknown single name: keep it a single name
        return f"{first} {last}{possessive}"
