"""``run_stages``: one sequence, started and stopped where the caller says, returning typed
records. A small company taken through ingest -> deidentify -> dataset (no model: fast)."""

from __future__ import annotations

import pytest

from privtune.config import load_config
from privtune.errors import InputError
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.run import STAGES, Stages, run_stages
from privtune.records import DatasetRecord
from privtune.synth import generate_company

EMPLOYEES, SEED = 30, 3


@pytest.fixture()
def export(tmp_path):
    generate_company(EMPLOYEES, SEED, tmp_path / "export", fmt="csv")
    return tmp_path / "export"


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_stops_after_dataset_with_typed_records(workspace, export) -> None:
    cfg = load_config(PipelineConfig, None, [f"company.employees={EMPLOYEES}",
                                             "dataset.val_fraction=0.5"])
    seen: list[str] = []

    class Recorder:
        def stage(self, description, total=None):
            seen.append(description)
            from privtune.progress import Silent
            return Silent().stage(description, total)

    stages = run_stages(workspace, cfg, export, Recorder(), stop="dataset", skip=("scan",))
    assert list(stages.ran()) == ["ingest", "deidentify", "dataset"]
    assert seen == ["ingest", "deidentify", "dataset"]
    assert stages.base_model is None and stages.train is None and stages.audit is None
    ds = stages.dataset
    assert ds is not None and isinstance(ds.record, DatasetRecord)
    rec = ds.record
    assert (rec.train, rec.val) == (ds.outputs["train"], ds.outputs["val"])
    assert rec.canaries == ds.outputs.get("canaries")
    assert rec.val_fraction == 0.5 and rec.seed == cfg.dataset.seed
    assert rec.split_by == "employee" and rec.privacy_unit == "employee"
    assert workspace.vault.exists(rec.train) and workspace.vault.exists(rec.val)
    assert ds.figures["employees_in_both"] == 0
    assert rec.max_group_size == 1 and ds.figures["max_group_size"] == 1  # the DP default
    # A later run picks up where the first stopped: from `prior`, or from the vault.
    again = run_stages(workspace, cfg, None, start="dataset", stop="dataset")
    assert again.dataset is not None and again.dataset.record.train.startswith("trainset@")


def test_bad_arguments_fail_before_any_work(workspace) -> None:
    cfg = PipelineConfig()
    with pytest.raises(InputError, match="unknown stage"):
        run_stages(workspace, cfg, None, stop="nonsense")
    with pytest.raises(InputError, match="export directory"):
        run_stages(workspace, cfg, None)
    with pytest.raises(InputError, match="needs the base_model"):
        run_stages(workspace, cfg, None, start="evaluate", prior=Stages())
    assert list(Stages().ran()) == [] and STAGES[0] == "ingest" and STAGES[-1] == "verify"
