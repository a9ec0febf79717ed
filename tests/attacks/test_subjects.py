"""load_subjects maps the training set's pseudonyms back to raw rows: the audit recomputes the
pipeline's tokens with the one pseudonymiser (privtune.deid), so members and held-out
employees, not only the canaries, are linked to their secrets."""

from __future__ import annotations

import os

import pytest

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions
EMPLOYEES, SEED = 40, 5
SMALL = ["dataset.canaries.repetitions=[1,4]", "dataset.canaries.max_unit_fraction=0.5",
         "dataset.canaries.seed=4", "dataset.val_fraction=0.5"]

pytestmark = pytest.mark.slow  # ingest -> deidentify -> dataset build on a generated company


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from privtune.config import load_config
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.dataset import build_dataset
    from privtune.pipeline.deid import deidentify
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company
    from privtune.workspace import init_workspace

    root = tmp_path_factory.mktemp("subjects")
    cfg = load_config(PipelineConfig, None, SMALL)
    generate_company(EMPLOYEES, SEED, root / "export", fmt="csv")
    ws = init_workspace(root / "ws")
    raw = ingest_export(ws, root / "export").outputs
    deid = dict(deidentify(ws, raw).outputs)
    ds = build_dataset(ws, deid, deid.pop("policies", None), cfg.dataset)
    ws.close()
    return {"ws_dir": root / "ws", "train": ds.outputs["train"], "val": ds.outputs["val"]}


def test_members_and_non_members_map_to_their_raw_rows(dataset: dict) -> None:
    from privtune.attacks.canaries import is_canary
    from privtune.attacks.subjects import load_subjects
    from privtune.workspace import Workspace

    with Workspace.open(dataset["ws_dir"], api_key=ADMIN_KEY) as ws:
        s = load_subjects(ws.vault, dataset["train"], dataset["val"], ws.pseudonym_key)
    assert s.members and s.non_members and not s.members & s.non_members
    mapped_members = {p for p in s.members if p in s.by_pseudonym}
    mapped_non = {p for p in s.non_members if p in s.by_pseudonym}
    assert len(mapped_members) >= 0.95 * len(s.members), (len(mapped_members), len(s.members))
    assert len(mapped_non) >= 0.95 * len(s.non_members), (len(mapped_non), len(s.non_members))
    # each maps to a raw employee id, and the canaries still map to themselves
    assert all(s.by_pseudonym[p].startswith("E") for p in mapped_members | mapped_non)
    planted = [c for c in s.canaries if c.included]
    assert planted and all(s.by_pseudonym[c.id] == c.id and is_canary(c.id) for c in planted)
    assert not any(c.id in s.by_pseudonym for c in s.canaries if not c.included)
    assert set(s.pseudonyms()) == {s.by_pseudonym[p] for p in mapped_members | mapped_non}
