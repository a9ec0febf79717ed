"""The reference reader printed in docs/vault-format.md opens real vault objects."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "vault-format.md"


@pytest.mark.parametrize("size", [0, 5, 64, 150, 192])
def test_documented_reader_opens_objects(small_ws, size: int) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(DOC), "exec"), ns)
    data = os.urandom(size)
    version = int(small_ws.vault.put("x", data).split("@")[1])
    assert ns["open_object"](str(small_ws.root), "x", version, os.environ["PRIVTUNE_PASSPHRASE"]) == data
