"""The pre-training estimate printed before a base is built is an idle-core figure: taken from
the fastest earlier build in the cache, not from builds that ran under load."""

from __future__ import annotations

import json
from pathlib import Path

from privtune.models.pretrain import MARKER, TinyBaseSpec
from privtune.pipeline.base_model import pretrain_estimate


def _cached(cache: Path, name: str, spec: TinyBaseSpec, seconds: float) -> None:
    d = cache / name
    d.mkdir(parents=True)
    (d / MARKER).write_text(json.dumps({"spec": spec.model_dump(mode="json"), "seconds": seconds}))


def test_estimate_is_the_fastest_earlier_build_scaled_to_the_work(tmp_path: Path) -> None:
    spec = TinyBaseSpec()
    # one build on idle cores (75 s) and two under load (291 s, 510 s): a median said 291 s
    for name, secs in (("a", 75.0), ("b", 291.0), ("c", 510.0)):
        _cached(tmp_path, name, spec, secs)
    assert pretrain_estimate(spec, tmp_path) == 75.0
    longer = spec.model_copy(update={"steps": spec.steps * 2})
    assert pretrain_estimate(longer, tmp_path) == 150.0
