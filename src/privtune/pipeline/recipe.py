"""``privtune run RECIPE.yaml``: the whole path on an export with one command, resumable stage
by stage, ending like the demo (the summary table, ``summary.json``, ``report.html``).

A recipe is a :class:`~privtune.pipeline.config.PipelineConfig` whose ``export`` section names
the export directory (and, optionally, its schema mapping). :func:`run_recipe` runs the stages of
:func:`~privtune.pipeline.run.run_stages` one at a time (ingest -> scan -> deidentify -> dataset
-> base model -> train -> evaluate -> audit -> release -> verify) and after each one writes the
stage's refs, figures and typed record to ``runs/pipeline/state.json`` (refs and numbers only).
Run again, it skips every stage already done for the same recipe and export, after checking that
its vault objects are still there; a changed recipe or export starts over; ``from_stage`` reruns
from a given stage. ``release`` runs only when the audit passed; otherwise the run ends after the
audit with the gate's verdict (the CLI exits 8).

The demo (:mod:`privtune.demo`) is this function on a synthetic company.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.errors import InputError, IntegrityError, NotFoundError, PrivacyPolicyError
from privtune.fsutil import atomic_write_text
from privtune.gate.policy import policy_sha256
from privtune.gate.release import ReleaseResult
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.result import StageResult
from privtune.pipeline.run import STAGES, Stages, run_stages
from privtune.pipeline.summary import build_summary, write_report
from privtune.pipeline.train import TrainedAdapter, evaluate_adapter
from privtune.progress import Reporter, Silent, note
from privtune.records import AdapterRecord, AuditVerdict, BaseModelRef, DatasetRecord, ReleaseRecord
from privtune.workspace import Workspace

STATE_FILE = Path("pipeline") / "state.json"
STATE_FORMAT = "privtune-pipeline-state/1"
#: Where ``privtune run`` writes summary.json and report.html (under the workspace).
RUN_REPORT_DIR = Path("reports") / "run"

#: Where the export comes from: a directory, or a context manager yielding one for the ingest
#: stage only (the demo's synthetic company lives in a private temp dir only while ingested).
ExportSource = Path | Callable[[], AbstractContextManager[Path]]
#: Extra stages after the recipe's (the demo's non-private reference): given the stages, they
#: return more named results for the summary.
After = Callable[[Stages], dict[str, StageResult[Any]]]


@dataclass
class RecipeResult:
    stages: Stages
    summary: dict[str, Any]
    out_dir: Path
    #: The stages skipped because an earlier run had done them.
    resumed: list[str] = field(default_factory=list)
    #: Why the model was not released (the gate failed, or the workspace policy refused it).
    not_released: str | None = None

    @property
    def summary_path(self) -> Path:
        return self.out_dir / "summary.json"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def passed(self) -> bool | None:
        """The gate's verdict (None: no audit ran)."""
        gate = self.summary.get("gate")
        return None if gate is None else bool(gate["passed"])


def export_fingerprint(export_dir: Path) -> str:
    """Names, sizes and modification times of the export's files (a changed export reruns)."""
    h = hashlib.sha256()
    for p in sorted(export_dir.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(export_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def recipe_key(cfg: PipelineConfig, export_dir: Path | None) -> str:
    """What a finished stage is reused for: the recipe (less its gate policy: an audit is
    reused only while the workspace's policy is the one that judged it), the export's files
    and the de-identification policy's content."""
    policy = Path(cfg.run.deid_policy) if cfg.run.deid_policy else None
    doc = {"config": cfg.model_dump(mode="json", exclude={"gate"}),
           "export": export_fingerprint(export_dir) if export_dir is not None else None,
           "deid_policy": (hashlib.sha256(policy.read_bytes()).hexdigest()
                           if policy is not None and policy.is_file() else None)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ the stored state of a run

def _record_dict(name: str, record: Any) -> Any:
    if record is None:
        return None
    if isinstance(record, TrainedAdapter):
        return {"ref": record.ref, "adapter": record.adapter.to_dict(), "history": record.history}
    if isinstance(record, ReleaseResult):
        return {"directory": str(record.directory), "manifest": record.manifest,
                "record": record.record.to_dict(), "release_id": record.release_id}
    return record.to_dict()


def _record_of(name: str, data: Any) -> Any:
    if data is None:
        return None
    if name == "dataset":
        return DatasetRecord.from_dict(data)
    if name == "base_model":
        return BaseModelRef.from_dict(data)
    if name == "train":
        return TrainedAdapter(data["ref"], AdapterRecord.from_dict(data["adapter"]), data["history"])
    if name == "audit":
        return AuditVerdict.from_dict(data)
    if name == "release":
        return ReleaseResult(Path(data["directory"]), data["manifest"],
                             ReleaseRecord.from_dict(data["record"]), data["release_id"])
    raise IntegrityError(f"pipeline state: stage '{name}' has no record")


def _still_there(ws: Workspace, name: str, res: StageResult[Any]) -> bool:
    """Are the stage's vault objects (and files) still there? A shredded or deleted output
    makes the stage run again."""
    if not all(ws.vault.exists(ref) for ref in res.outputs.values()):
        return False
    rec = res.record
    if isinstance(rec, BaseModelRef):
        return Path(rec.dir).is_dir()
    if isinstance(rec, TrainedAdapter):
        return ws.vault.exists(rec.ref)
    if isinstance(rec, ReleaseResult):
        return Path(rec.directory).is_dir()
    return True


def _load_state(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("format") != STATE_FORMAT or doc.get("key") != key:
        return None
    return doc


def _save_state(path: Path, key: str, stages: Stages) -> None:
    done = {name: {"outputs": r.outputs, "figures": r.figures, "seconds": r.seconds,
                   "warnings": r.warnings, "record": _record_dict(name, r.record)}
            for name, r in stages.ran().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"format": STATE_FORMAT, "key": key, "stages": done},
                                       indent=1, default=str))


# ------------------------------------------------------------------ the run

def run_recipe(
    ws: Workspace,
    cfg: PipelineConfig,
    export: ExportSource | None = None,
    reporter: Reporter | None = None,
    *,
    out_dir: Path | None = None,
    resume: bool = True,
    from_stage: str | None = None,
    stop: str = "verify",
    before: dict[str, StageResult[Any]] | None = None,
    after: After | None = None,
    workspace_shown: Path | None = None,
    title: str = "pipeline run",
) -> RecipeResult:
    """Run the recipe on ``ws``; ``export``: the export directory (default ``cfg.export.dir``)
    or a context manager yielding it; ``out_dir``: where summary.json and report.html go
    (default ``<workspace>/reports/run``); ``before``: results shown first (the demo's company);
    ``after``: more stages run after the recipe's (the demo's non-private reference);
    ``workspace_shown``: the workspace's path in the summary (the demo's final place)."""
    t_start = time.perf_counter()
    rep = reporter or Silent()
    for given in (from_stage, stop):
        if given is not None and given not in STAGES:
            raise InputError(f"unknown stage '{given}' (stages: {', '.join(STAGES)})")
    todo = STAGES[:STAGES.index(stop) + 1]
    if not cfg.run.release:
        todo = tuple(s for s in todo if s not in ("release", "verify"))
    export_dir: Path | None = None
    if export is None and cfg.export.dir is not None:
        export = Path(cfg.export.dir)
    if isinstance(export, Path):
        export_dir = export
        if not export_dir.is_dir():
            raise NotFoundError(f"export directory not found: {export_dir} (set export.dir in "
                                "the recipe, or export.dir=PATH on the command line)")
    if export is None:
        raise InputError("the recipe names no export: set export.dir in the recipe (or "
                         "export.dir=PATH on the command line)")
    key = recipe_key(cfg, export_dir)
    if "release" in todo:
        cfg = _judged_by_workspace_policy(ws, cfg, rep)
    state_path = ws.runs_dir / STATE_FILE
    state = _load_state(state_path, key) if (resume and export_dir is not None) else None
    if resume and export_dir is not None and state is None and state_path.is_file():
        note(rep, "the recipe or the export changed since the last run: every stage runs again")
    stages = Stages()
    resumed: list[str] = []
    not_released: str | None = None
    rerun_from = STAGES.index(from_stage) if from_stage is not None else len(STAGES)
    policy_checked = False
    for i, name in enumerate(todo):
        done = (state or {}).get("stages", {}).get(name)
        if done is not None and i < rerun_from and len(resumed) == i:
            res: StageResult[Any] = StageResult(name, _record_of(name, done["record"])
                                                if done["record"] is not None else None,
                                                done["outputs"], done["figures"], done["seconds"],
                                                list(done.get("warnings") or []))
            judged = res.figures.get("policy_sha256") if name == "audit" else None
            if judged is not None and judged != policy_sha256(cfg.gate):
                note(rep, "audit: the workspace's gate policy changed since the last audit: "
                          "auditing again")
            elif _still_there(ws, name, res):
                setattr(stages, name, res)
                resumed.append(name)
                note(rep, f"{name}: done in an earlier run of this recipe (resumed)")
                continue
        if name == "release" and not (stages.audit is not None and stages.audit.record.passed):
            failed = stages.audit.record.failed if stages.audit is not None else []
            not_released = f"the privacy gate failed ({', '.join(failed)})"
            break  # nothing is released (the summary says why)
        # Say what would keep the model from being released as soon as the dataset is known,
        # before the base model and training (tens of minutes on a CPU), not after them.
        if name in ("base_model", "audit") and "release" in todo and not policy_checked:
            _check_policy(ws, cfg, rep, stages)
            policy_checked = True
        if name == "ingest":
            with _export_dir(export) as d:
                run_stages(ws, cfg, d, rep, start=name, stop=name, prior=stages,
                           adapter_name=cfg.run.adapter_name)
        elif name == "release":
            try:
                run_stages(ws, cfg, None, rep, start=name, stop=name, prior=stages)
            except PrivacyPolicyError as exc:  # the workspace policy refuses this audit
                not_released = exc.message
                break
        else:
            run_stages(ws, cfg, None, rep, start=name, stop=name, prior=stages,
                       adapter_name=cfg.run.adapter_name)
        if export_dir is not None:
            _save_state(state_path, key, stages)
    results: dict[str, StageResult[Any]] = {**(before or {}), **stages.ran()}
    if after is not None:
        results.update(after(stages))
    order = (*(before or {}), *STAGES, *[k for k in results if k not in STAGES and k not in (before or {})])
    out = out_dir if out_dir is not None else ws.root / RUN_REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    shown = workspace_shown if workspace_shown is not None else ws.root.resolve()
    verdict = stages.audit.record if stages.audit is not None else None
    results = _paths_shown(results, ws.root.resolve(), shown)
    summary = build_summary(cfg, results, verdict, time.perf_counter() - t_start, shown, order)
    if resumed:
        summary["resumed"] = resumed
    if not_released is not None:
        summary["warnings"].append(f"the model was not released: {not_released}")
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    trained = stages.train.record if stages.train is not None else None
    write_report(out / "report.html", shown, summary,
                 trained.history if trained is not None else [], title=title)
    return RecipeResult(stages, summary, out, resumed, not_released)


def _paths_shown(results: dict[str, StageResult[Any]], root: Path, shown: Path
                 ) -> dict[str, StageResult[Any]]:
    """The stages' absolute paths inside the workspace (a release's directory, its public key)
    as the summary's reader will find them: the demo builds its workspace aside and moves it
    into place at the end."""
    if root == shown:
        return results
    prefix = str(root)

    def move(v: Any) -> Any:
        if isinstance(v, str) and (v == prefix or v.startswith(prefix + "/")):
            return str(shown) + v[len(prefix):]
        return v

    return {name: dataclasses.replace(r, figures={k: move(v) for k, v in r.figures.items()})
            for name, r in results.items()}


def _judged_by_workspace_policy(ws: Workspace, cfg: PipelineConfig, rep: Reporter) -> PipelineConfig:
    """A release accepts only an audit judged by the workspace's gate policy (set by an admin
    or DPO with `privtune policy set`): the run's audit is judged by it."""
    from privtune.gate.workspace_policy import workspace_policy

    current = workspace_policy(ws.store)
    if policy_sha256(current.policy) != policy_sha256(cfg.gate):
        note(rep, f"the audit is judged by the workspace's gate policy (version {current.version}, "
                  "privtune policy show), not by the recipe's gate section: a release accepts "
                  "only that policy's verdict", warning=True)
    return cfg.model_copy(update={"gate": current.policy})


def _check_policy(ws: Workspace, cfg: PipelineConfig, rep: Reporter, stages: Stages) -> None:
    """Before training and the audit (minutes), say what would keep the model from being
    released after them:
    a recipe ``gate`` section that is not the workspace's policy, or audit settings weaker than
    the policy's minimums."""
    from privtune.gate.workspace_policy import workspace_policy

    pol = workspace_policy(ws.store).policy
    weak = []
    if cfg.audit.mia.reference_models < pol.min_reference_models:
        weak.append(f"audit.mia.reference_models is {cfg.audit.mia.reference_models} < the "
                    f"policy's min_reference_models {pol.min_reference_models}")
    candidates = (stages.dataset.figures.get("canaries") if stages.dataset is not None else None)
    if isinstance(candidates, int) and candidates < pol.min_candidates:
        weak.append(f"the dataset holds {candidates} candidate canaries < the policy's "
                    f"min_candidates {pol.min_candidates} (dataset.canaries: at most "
                    "max_unit_fraction of the training employees; a larger export has more)")
    if weak:
        note(rep, "this audit will be weaker than the workspace's gate policy accepts for a "
                  "release (privtune policy show), so the model will not be released: "
                  + "; ".join(weak), warning=True)


@contextlib.contextmanager
def _export_dir(export: ExportSource) -> Iterator[Path]:
    if isinstance(export, Path):
        yield export
    else:
        with export() as d:
            yield d


def evaluate_model(ws: Workspace, model: str) -> StageResult[None]:
    """``privtune evaluate MODEL``: the held-out evaluation of a registered adapter on its own
    (validation loss base vs tuned, ticket triage), with the base model it was trained on."""
    ws.guard("model.read", model, action="evaluate")
    ref = ws.vault.resolve(model)
    meta = ws.vault.manifest(ref).meta
    record = AdapterRecord.from_dict(meta)
    base_dir = Path(record.base_model)
    if not base_dir.is_absolute():
        base_dir = ws.root / base_dir
    if not base_dir.is_dir():
        raise NotFoundError(f"the base model of '{ref}' is not at {base_dir} any more: rebuild it "
                            "(`privtune model build-tiny`) or move it back")
    base = BaseModelRef(dir=base_dir, sha256=record.base_model_sha256, kind="local",
                        trained_on="as recorded with the adapter")
    return evaluate_adapter(ws, base, TrainedAdapter(ref, record, []))
