"""The gate tells a leaking model from a private one on the real employees alone (issue 15).

No canaries are planted here (``dataset.canaries.enabled=false``, the exposure check off): only
the people in the data can give a model away. The data are employee facts (department, salary
band, performance rating) of an 80-person company, half of it held out, so membership inference
compares 40 members with 40 non-members, each scored on the same three kinds of fact.

* Trained without DP for 240 steps of 16 (32 epochs), the model memorises its people: the loss
  attack tells members from held-out employees almost perfectly, far over the gate's 0.75 / 0.2,
  so the gate fails it through membership inference with the epsilon requirement switched off.
  The pseudonyms (the tokens trained) are keyed by each workspace's own random key, so every
  run is a new draw: on 5 runs of this recipe, AUC 0.991-0.999 and TPR 0.78-0.95 at zero false
  positives (with 160 steps one run gave only AUC 0.89, TPR 0.2, hence the longer run).
* The same data trained with DP at epsilon 8 (secure randomness, a fresh draw every run) passes
  the default gate: best AUC 0.49-0.62 and TPR at 1% FPR 0-0.10 on the runs seen. With 40
  non-members, a model that leaks nothing has a TPR >= 0.2 at zero false positives (8 members
  above every non-member) with probability about 0.003, and an AUC >= 0.75 (3.8 standard
  deviations) about 1e-4.

(The model does not learn the facts' values well enough for attribute inference to flag it:
members' accuracy stays within a few points of the base rate; the advantage is checked to be
measured on the real employees, and below the gate's limit for the DP model.)
"""

from __future__ import annotations

import os

import pytest

from privtune.gate.audit import run_audit
from privtune.gate.policy import GatePolicy
from privtune.pipeline.site import gate_site
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

pytestmark = pytest.mark.slow

EMPLOYEES, SEED = 80, 11
FIELDS = ("department", "salary_band", "performance_rating")
CONFIG = [
    f"company.employees={EMPLOYEES}", f"company.seed={SEED}",
    "model.tiny.steps=30", "model.tiny.warmup=3", "model.tiny.batch_size=8", "model.tiny.seq_len=64",
    "model.tiny.model.hidden_size=64", "model.tiny.model.intermediate_size=128",
    "model.tiny.model.num_hidden_layers=2", "model.tiny.model.vocab_size=1024",
    "dataset.canaries.enabled=false", "dataset.val_fraction=0.5",
    "dataset.templates.policy_qa.enabled=false", "dataset.templates.ticket_triage.enabled=false",
    "train.steps=240", "train.batch_size=16", "train.lr=0.01", "train.eval_every=0",
    "train.warmup_steps=5", "train.lora.dropout=0.0", "dp.enabled=false",
    # the real-employee attacks in full; no LiRA references, extraction or prompt attacks (the
    # checks this test is about are membership and attribute inference)
    "audit.mia.reference_models=0", "audit.extraction.employees=0", "audit.extraction.samples=0",
    "audit.prompt_attacks.enabled=false",
]
DP_STEPS = 30
REAL = {"mia_auc_max", "mia_tpr_at_1pct_fpr_max", "attribute_advantage_max"}
#: no canaries: the exposure check off; the non-private model is judged by the attacks alone
ATTACKS_ONLY = GatePolicy(canary_exposure_max=None, epsilon=None)
DEFAULT_NO_CANARIES = GatePolicy(canary_exposure_max=None)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from privtune.config import load_config
    from privtune.datasets.templates import EmployeeFactTemplate
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.train import train_adapter
    from privtune.synth import generate_company
    from privtune.workspace import init_workspace

    fields = {k: v.model_dump() for k, v in EmployeeFactTemplate().fields.items() if k in FIELDS}
    cfg = load_config(PipelineConfig, None, CONFIG,
                      base={"dataset": {"templates": {"employee_fact": {"fields": fields}}}})
    root = tmp_path_factory.mktemp("gate-real")
    generate_company(EMPLOYEES, SEED, root / "export", fmt="csv")
    ws = init_workspace(root / "ws")
    stages = run_stages(ws, cfg, root / "export", stop="train", skip=("scan",))
    ws.close()
    assert stages.dataset and stages.base_model and stages.train
    ds = stages.dataset.record
    dp = cfg.dp.model_copy(update={"enabled": True, "unit": "employee", "target_epsilon": 8.0,
                                   "noise_multiplier": None, "expected_batch_size": 8})
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        plain = run_audit(gate_site(ws), stages.train.record.ref, cfg.audit, ATTACKS_ONLY)
        tr = train_adapter(ws, stages.base_model.record, ds.train, ds.val,
                           cfg.train.model_copy(update={"steps": DP_STEPS}), name="adapter-dp",
                           dp=dp)
        private = run_audit(gate_site(ws), tr.record.ref, cfg.audit, DEFAULT_NO_CANARIES)
    return {"plain": plain.verdict, "dp": private.verdict, "dataset": stages.dataset.figures}


def _best(v: dict) -> dict:
    return max(v["details"]["membership"], key=lambda a: a["auc"])


def _real_employees_probed(v: dict) -> None:
    d = v["details"]
    assert d["canaries"] == [] and d["one_run"] is None           # nothing planted
    assert v["subjects_probed"]["exposure"]["canaries"] == 0
    for a in d["membership"]:
        assert a["members"] >= 35 and a["non_members"] >= 35
    assert d["membership_make_up"]["slots"] == [f"employee_fact:{f}" for f in sorted(FIELDS)]
    attrs = d["attributes"]
    assert attrs["members"] >= 35 and attrs["non_members"] >= 35
    assert set(attrs["fields"]) == set(FIELDS)
    assert v["subjects_probed"]["membership"]["real_employees"] >= 70


def test_the_non_private_model_fails_on_real_employees_alone(verdicts) -> None:
    v = verdicts["plain"]
    assert set(verdicts["dataset"]["by_kind"]) == {"employee_fact"}     # facts only
    _real_employees_probed(v)
    assert v["details"]["privacy"].get("dp") is not True
    assert v["passed"] is False
    # it fails through the attacks on the real employees, and through nothing else
    assert "mia_auc_max" in v["failed"] and set(v["failed"]) <= REAL
    best = _best(v)
    assert best["auc"] > 0.9 and best["tpr_at_1pct_fpr"] > 0.4
    row = next(m for m in v["metrics"] if m["name"] == "mia_auc_max")
    assert row["checked"] and row["passed"] is False and row["threshold"] == 0.75


def test_the_dp_model_of_the_same_data_passes(verdicts) -> None:
    v, plain = verdicts["dp"], verdicts["plain"]
    _real_employees_probed(v)
    privacy = v["details"]["privacy"]
    assert privacy["dp"] is True and 0 < privacy["epsilon"] <= 8.0
    assert v["passed"] is True and v["failed"] == []      # the default policy, DP required
    rows = {m["name"]: m for m in v["metrics"]}
    for name in REAL:
        assert rows[name]["checked"] and rows[name]["passed"], name
    assert rows["epsilon"]["checked"] and rows["dp_requirement"]["passed"]
    assert _best(v)["auc"] < _best(plain)["auc"]
    assert v["details"]["attributes"]["advantage"] is not None
