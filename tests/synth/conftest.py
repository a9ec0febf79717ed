"""Fixtures for the synthetic-company tests: a few companies generated once per session."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from privtune.synth import CompanyFiles, generate_company, read_jsonl, read_table


@dataclass
class Loaded:
    """A generated company read back into plain Python objects."""

    files: CompanyFiles
    employees: list[dict]
    leave: list[dict]
    reviews: list[dict]
    tickets: list[dict]
    spans: list[dict]

    @property
    def texts(self) -> dict[str, str]:
        return {r["id"]: r["text"] for r in self.reviews + self.tickets}

    def spans_by_text(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {tid: [] for tid in self.texts}
        for s in self.spans:
            out[s["text_id"]].append(s)
        return out


def load(files: CompanyFiles) -> Loaded:
    return Loaded(
        files=files,
        employees=read_table(files.employees).to_pylist(),
        leave=read_table(files.leave).to_pylist(),
        reviews=read_jsonl(files.reviews),
        tickets=read_jsonl(files.tickets),
        spans=read_jsonl(files.pii_spans),
    )


@pytest.fixture(scope="session")
def company(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """120 employees, seed 11, CSV tables."""
    return load(generate_company(120, 11, tmp_path_factory.mktemp("co") / "csv"))


@pytest.fixture(scope="session")
def big_company(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """300 employees, seed 3, parquet tables (also the 'stays fast' check)."""
    return load(generate_company(300, 3, tmp_path_factory.mktemp("big") / "pq", fmt="parquet"))


@pytest.fixture(scope="session", params=[5, 17])
def small_company(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """Tiny companies: the edge of the org-tree and category logic."""
    n = request.param
    return load(generate_company(n, 100 + n, tmp_path_factory.mktemp(f"small{n}"), fmt="json"))

