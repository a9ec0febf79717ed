"""Shared helpers: an operator environment with a fixed key and a tiny roster of people."""

from __future__ import annotations

import pytest

from privtune.deid.fakes import Surrogates
from privtune.deid.keys import KeyedHash
from privtune.deid.operators import Env
from privtune.deid.people import PersonIndex

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PEOPLE = [
    {"employee_id": "E00001", "first_name": "Maria", "last_name": "Garcia", "email": "maria.garcia@acme.example",
     "phone": "(415) 372-0134"},
    {"employee_id": "E00002", "first_name": "John", "last_name": "Long", "email": "john.long@acme.example",
     "phone": "(212) 414-9987"},
]


def make_env(key: bytes = KEY, people: list[dict] | None = None) -> Env:
    idx = PersonIndex.from_rows(people if people is not None else PEOPLE)
    keyed = KeyedHash(key)
    return Env(keyed, Surrogates(keyed, forbidden_names=idx.full_names()), idx)


@pytest.fixture
def env() -> Env:
    return make_env()
