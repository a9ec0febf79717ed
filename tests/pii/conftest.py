"""A small synthetic company shared by the PII tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def company(tmp_path_factory):
    import privtune.synth as synth
    out = tmp_path_factory.mktemp("company")
    synth.generate_company(400, 11, out, fmt="csv")
    return out
