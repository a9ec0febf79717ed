"""Object names are matched whole (issue 16, finding 11: ``NAME_RE`` accepted a trailing newline)."""

from __future__ import annotations

import pytest

from privtune.errors import InputError
from privtune.vault.objects import parse_ref


@pytest.mark.parametrize("text", ["employees\n", "employees\n@1", "employees@1\n", "\nemployees",
                                  "employees\r", "emp loyees"])
def test_names_with_a_newline_or_junk_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        parse_ref(text)


def test_plain_names_still_parse() -> None:
    assert str(parse_ref("employees-deid@3")) == "employees-deid@3"
    assert str(parse_ref("a.b_c-d")) == "a.b_c-d"
