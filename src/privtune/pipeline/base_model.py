"""Stage ``base model``: the local base checkpoint fine-tuning starts from.

``model.base: tiny`` builds (or reuses from the cache) a tiny Mistral-architecture model
pre-trained on NON-personal text only: generic HR language plus the policy documents as
de-identified by the ``deidentify`` stage (``policies-deid``). Employee
records never reach the base, so the cached base needs no protection and no privacy budget.
Any other value is the path of a local Hugging Face model directory (e.g. Mistral-7B).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from privtune.fsutil import restrict_tree
from privtune.io import read_json
from privtune.models.loading import check_model_dir, model_dir_hash
from privtune.models.pretrain import (
    MARKER,
    TinyBaseSpec,
    base_metadata,
    cache_key,
    ensure_tiny_base,
    is_complete,
)
from privtune.pipeline.config import TINY, ModelSection
from privtune.pipeline.result import StageResult
from privtune.progress import ProgressFn, fmt_duration
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


#: Seconds per pre-training step of the default tiny base on 2 cores (TinyBaseSpec's docstring),
#: used when no base was built on this machine yet.
SECONDS_PER_STEP_2_CORES = 0.24


def _cores() -> int:
    import torch

    return max(1, int(torch.get_num_threads()))


def _load() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    import os

    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def pretrain_estimate(spec: TinyBaseSpec, cache: Path) -> float:
    """Seconds the pre-training of ``spec`` should take here: from the bases already built in
    the cache (seconds per step and token), else the documented 2-core figure. The fastest
    earlier build is the one nearest idle cores (the others ran beside other work), and the
    caller labels the figure as an idle-core one."""
    work = spec.steps * spec.batch_size * spec.seq_len
    rates = []
    for marker in cache.glob(f"*/{MARKER}"):
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
            s = meta["spec"]
            done = int(s["steps"]) * int(s["batch_size"]) * int(s["seq_len"])
            if meta["spec"]["model"] == spec.model.model_dump(mode="json") and done > 0:
                rates.append(float(meta["seconds"]) / done)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if rates:
        return min(rates) * work
    default = TinyBaseSpec()
    per_token = SECONDS_PER_STEP_2_CORES / (default.batch_size * default.seq_len)
    return per_token * work * (2 / _cores()) ** 0.5  # threads scale sub-linearly on small models


def prepare_base(
    ws: Workspace,
    section: ModelSection,
    *,
    policies_ref: str | None,
    progress: ProgressFn | None = None,
    notify: Callable[[str], None] | None = None,
) -> StageResult[BaseModelRef]:
    """``notify``: told, before a base is pre-trained, how long that should take, and after,
    which cached base is used and what it was trained on."""
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
    key = cache_key([t for t in texts if t and t.strip()], section.tiny)
    if notify is not None and not is_complete(cache / key):
        eta = pretrain_estimate(section.tiny, cache)
        load = _load()
        busy = (f" (the machine is busy, load {load:.1f} on {_cores()} cores: expect about "
                f"{fmt_duration(eta * load / _cores())})" if load > 1.5 * _cores() else "")
        notify(f"pre-training the base model ({section.tiny.steps} steps, {len(texts):,} "
               f"non-personal texts): about {fmt_duration(eta)} on {_cores()} idle cores{busy}; "
               f"cached in {cache} for every workspace with the same texts and settings")
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
    if notify is not None and calls["n"] == 0:
        notify(f"base model: the cached base {cached_dir.name} (shared by every workspace with the "
               f"same pre-training texts and settings), trained on {TINY_BASE_DATA}")
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
