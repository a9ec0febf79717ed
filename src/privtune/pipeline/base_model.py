"""Stage ``base model``: the local base checkpoint fine-tuning starts from.

``model.base: tiny`` builds (or reuses from the cache) a tiny Mistral-architecture model
pre-trained on NON-personal text only: generic HR language plus the policy documents as
de-identified by the ``deidentify`` stage (``policies-deid``). Employee
records never reach the base, so the cached base needs no protection and no privacy budget.
Any other value is the path of a local Hugging Face model directory (e.g. Mistral-7B).
"""

from __future__ import annotations

import shutil
import time

from privtune.fsutil import restrict_tree
from privtune.io import read_json
from privtune.models.loading import check_model_dir, model_dir_hash
from privtune.models.pretrain import base_metadata, ensure_tiny_base, is_complete
from privtune.pipeline.config import TINY, ModelSection
from privtune.pipeline.result import StageResult
from privtune.progress import ProgressFn
from privtune.records import BaseModelRef
from privtune.synth import generic_hr_corpus
from privtune.workspace import Workspace, default_cache_dir

#: What a base model saw before fine-tuning (:attr:`BaseModelRef.trained_on`).
TINY_BASE_DATA = "non-personal text only: generic HR language and the de-identified policy documents"
GIVEN_BASE = "unknown: a local model directory given by the user"


def pretraining_texts(ws: Workspace, policies_ref: str | None, seed: int) -> list[str]:
    """Generic HR language + the workspace's policy documents as de-identified by the
    ``deidentify`` stage (``policies-deid``): a raw ``policies`` object is refused, so nothing
    a policy names reaches the tokenizer, the base model or its cache."""
    if policies_ref is not None and not policies_ref.startswith("policies-deid@"):
        from privtune.errors import InputError
        raise InputError("the base model is pre-trained on de-identified policies only "
                         "(policies-deid): run `privtune deidentify` first", field=policies_ref)
    texts = generic_hr_corpus(seed, 3000)
    if policies_ref is not None:
        texts += list(read_json(ws.vault, policies_ref).values())
    return texts


def prepare_base(
    ws: Workspace,
    section: ModelSection,
    *,
    policies_ref: str | None,
    progress: ProgressFn | None = None,
) -> StageResult[BaseModelRef]:
    t0 = time.perf_counter()
    # Checked and audited before any work: building a base writes under models/ (issue 16).
    ws.guard("model.write", "base-model", base="tiny" if section.base == TINY else "local")
    if section.base != TINY:
        path = check_model_dir(section.base)
        sha = model_dir_hash(path)
        record = BaseModelRef(dir=path, sha256=sha, kind="local", trained_on=GIVEN_BASE)
        return StageResult("base_model", record,
                           figures={"path": str(path), "kind": "local", "sha256": sha},
                           seconds=time.perf_counter() - t0)

    texts = pretraining_texts(ws, policies_ref, section.tiny.seed)
    cache = default_cache_dir() / "bases"
    calls = {"n": 0}

    def counting(step: int, total: int, metrics: dict) -> None:
        calls["n"] += 1
        if progress is not None:
            progress(step, total, metrics)

    cached_dir = ensure_tiny_base(texts, section.tiny, cache, counting)
    if calls["n"] == 0 and progress is not None:
        progress(section.tiny.steps, section.tiny.steps, {"cache": "hit"})
    local = ws.models_dir / f"tiny-{cached_dir.name[:16]}"
    if not is_complete(local):
        tmp = local.with_name(local.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(cached_dir, tmp)
        restrict_tree(tmp)  # copytree copies the cache's modes; workspace files are 0600
        tmp.rename(local)
    meta = base_metadata(local)
    sha = model_dir_hash(local)
    figures = {
        "path": str(local.relative_to(ws.root)),
        "kind": "tiny-mistral",
        "params": meta["params"],
        "vocab_size": meta["vocab_size"],
        "pretrain_texts": meta["n_texts"],
        "pretrain_tokens": meta["n_tokens"],
        "pretrain_loss_start": round(meta["loss_start"], 4),
        "pretrain_loss_end": round(meta["loss_end"], 4),
        "from_cache": calls["n"] == 0,
        "sha256": sha,
    }
    record = BaseModelRef(dir=local, sha256=sha, kind="tiny-mistral", trained_on=TINY_BASE_DATA)
    return StageResult("base_model", record, figures=figures, seconds=time.perf_counter() - t0)
