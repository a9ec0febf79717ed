"""The one stage sequence: ingest -> scan -> deidentify -> dataset -> base model -> train ->
evaluate -> audit -> release -> verify, run on a workspace with one validated config.

The demo, ``privtune train``, the benchmarks and the test fixtures all run their stages through
:func:`run_stages`, choosing where to start and stop. A stage takes the records of the stages
before it: from this run, from ``prior`` (an earlier :func:`run_stages` on the same workspace),
or, when neither ran it, the newest matching vault objects (and ``cfg.data`` for the dataset).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from privtune.errors import InputError
from privtune.gate.audit import STEPS as AUDIT_STEPS
from privtune.pipeline.audit import audit_stage
from privtune.pipeline.base_model import prepare_base
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.dataset import build_dataset
from privtune.pipeline.deid import MAPPING, POLICIES, TABLES, TEXT_SETS, deidentify, scan
from privtune.pipeline.ingest import ingest_export
from privtune.pipeline.release import release_stage, verify_stage
from privtune.pipeline.result import StageResult
from privtune.pipeline.site import gate_site
from privtune.pipeline.train import TrainedAdapter, evaluate_adapter, train_adapter
from privtune.progress import Reporter, Silent, note
from privtune.records import AuditVerdict, BaseModelRef, DatasetRecord
from privtune.workspace import Workspace

#: The stages, in order (the keys of ``summary.json["stages"]``; the demo adds ``company``).
#: ``release`` and ``verify`` run only when asked (``stop="verify"``: ``privtune run``).
STAGES = ("ingest", "scan", "deidentify", "dataset", "base_model", "train", "evaluate", "audit",
          "release", "verify")
RAW_OBJECTS = (*TABLES, *TEXT_SETS, POLICIES, MAPPING)
DEID_SUFFIX = "-deid"


@dataclass
class Stages:
    """The typed results of a run, by stage (``None``: not run)."""

    ingest: StageResult[None] | None = None
    scan: StageResult[None] | None = None
    deidentify: StageResult[None] | None = None
    dataset: StageResult[DatasetRecord] | None = None
    base_model: StageResult[BaseModelRef] | None = None
    train: StageResult[TrainedAdapter] | None = None
    evaluate: StageResult[None] | None = None
    audit: StageResult[AuditVerdict] | None = None
    release: StageResult[Any] | None = None
    verify: StageResult[None] | None = None

    def ran(self) -> dict[str, StageResult[Any]]:
        """The results of the stages that ran, in pipeline order."""
        out: dict[str, StageResult[Any]] = {}
        for f in fields(self):
            res = getattr(self, f.name)
            if res is not None:
                out[f.name] = res
        return out


def _index(name: str) -> int:
    if name not in STAGES:
        raise InputError(f"unknown stage '{name}' (stages: {', '.join(STAGES)})")
    return STAGES.index(name)


def _latest(ws: Workspace, names: tuple[str, ...], suffix: str = "") -> dict[str, str]:
    return {n: ws.vault.resolve(n + suffix) for n in names if ws.vault.exists(n + suffix)}


def run_stages(
    ws: Workspace,
    cfg: PipelineConfig,
    export_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    *,
    start: str = "ingest",
    stop: str = "audit",
    skip: tuple[str, ...] = (),
    prior: Stages | None = None,
    adapter_name: str = "adapter",
) -> Stages:
    """Run the stages from ``start`` to ``stop`` (inclusive) but those in ``skip``; returns
    ``prior`` (or a new :class:`Stages`) with their results filled in."""
    first, last = _index(start), _index(stop)
    for name in skip:
        _index(name)
    todo = [s for s in STAGES[first:last + 1] if s not in skip]
    rep = reporter or Silent()
    out = prior if prior is not None else Stages()

    def raw() -> dict[str, str]:
        return out.ingest.outputs if out.ingest is not None else _latest(ws, RAW_OBJECTS)

    def deid_policies() -> str | None:
        """The de-identified policies: the base model never sees the raw ones."""
        if out.deidentify is not None:
            return out.deidentify.outputs.get(POLICIES)
        return _latest(ws, (POLICIES,), DEID_SUFFIX).get(POLICIES)

    def data_refs() -> tuple[str, str]:
        if out.dataset is not None:
            return out.dataset.record.train, out.dataset.record.val
        for ref in (cfg.data.train, cfg.data.val):
            if not ws.vault.exists(ref):
                from privtune.errors import NotFoundError
                raise NotFoundError(f"no training data '{ref}' in the vault yet: build it with "
                                    "`privtune dataset build` (after ingest and deidentify), or "
                                    "run the whole path with `privtune run RECIPE.yaml`")
        return ws.vault.resolve(cfg.data.train), ws.vault.resolve(cfg.data.val)

    if "train" in todo and "dataset" not in todo:
        data_refs()  # fail before any work if the data is missing
    for name in todo:
        _run_one(name, ws, cfg, export_dir, rep, out, raw, deid_policies, data_refs, adapter_name)
        res = getattr(out, name)
        for w in res.warnings if res is not None else ():
            note(rep, w, warning=True)
    return out


def _run_one(name: str, ws: Workspace, cfg: PipelineConfig, export_dir: str | Path | None,
             rep: Reporter, out: Stages, raw: Any, deid_policies: Any, data_refs: Any,
             adapter_name: str) -> None:
    if name == "ingest":
        if export_dir is None:
            raise InputError("the ingest stage needs an export directory")
        with rep.stage("ingest") as p:
            out.ingest = ingest_export(ws, export_dir, cfg.export.mapping)
            p(1, 1, {})
    elif name == "scan":
        with rep.stage("scan") as p:
            out.scan = scan(ws, raw(), cfg.run.deid_policy)
            p(1, 1, {})
    elif name == "deidentify":
        with rep.stage("deidentify") as p:
            out.deidentify = deidentify(ws, raw(), cfg.run.deid_policy)
            p(1, 1, {})
    elif name == "dataset":
        deid = dict(out.deidentify.outputs if out.deidentify is not None
                    else _latest(ws, (*TABLES, *TEXT_SETS, POLICIES), DEID_SUFFIX))
        policies = deid.pop(POLICIES, None)  # de-identified policies only (issue 17)
        with rep.stage("dataset") as p:
            out.dataset = build_dataset(ws, deid, policies, cfg.dataset, dp=cfg.dp)
            p(1, 1, {})
    elif name == "base_model":
        with rep.stage("base model", cfg.model.tiny.steps) as p:
            out.base_model = prepare_base(ws, cfg.model, policies_ref=deid_policies(),
                                          progress=p, notify=lambda m: note(rep, m))
    elif name == "train":
        base = _need(out.base_model, "base_model", name)
        train_ref, val_ref = data_refs()
        with rep.stage("train (LoRA)", cfg.train.steps) as p:
            out.train = train_adapter(ws, base, train_ref, val_ref, cfg.train, p,
                                      name=adapter_name, dp=cfg.dp)
    elif name == "evaluate":
        base = _need(out.base_model, "base_model", name)
        trained = _need(out.train, "train", name)
        with rep.stage("evaluate") as p:
            out.evaluate = evaluate_adapter(ws, base, trained)
            p(1, 1, {})
    elif name == "audit":
        trained = _need(out.train, "train", name)
        with rep.stage("privacy audit", len(AUDIT_STEPS)) as p:
            out.audit = audit_stage(gate_site(ws), trained.ref, cfg.audit, cfg.gate, p)
    elif name == "release":
        trained = _need(out.train, "train", name)
        with rep.stage("release") as p:
            out.release = release_stage(gate_site(ws), trained.ref)
            p(1, 1, {})
    elif name == "verify":
        released = _need(out.release, "release", name)
        with rep.stage("verify release") as p:
            out.verify = verify_stage(gate_site(ws), released)
            p(1, 1, {})


def _need(res: StageResult[Any] | None, stage: str, by: str) -> Any:
    if res is None:
        raise InputError(f"the {by} stage needs the {stage} stage's result: run it first "
                         f"(start at '{stage}' or pass prior=)")
    return res.record
