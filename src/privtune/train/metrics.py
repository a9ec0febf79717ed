"""Metric sinks: a local JSONL file always, MLflow with a local file store when asked.

A row is a flat dict of numbers with a ``step``. Nothing here talks to a network service: the
MLflow sink sets a ``file:`` tracking URI under the run directory (the ``mlflow`` extra must be
installed), and the whole loop runs inside :func:`privtune.netguard.network_guard`.
Only numbers are logged, never texts (they may hold personal data). A DP run's per-step
training figures are not private (:data:`PUBLIC_KEYS` says what is); outside the vault such a
run shows only the public ones (:func:`public_row`, :class:`PublicOnly`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

from privtune.errors import ResourceError


class MetricLogger(Protocol):
    def log(self, row: dict[str, float]) -> None: ...
    def close(self) -> None: ...


class JsonlLogger:
    """One JSON object per line, flushed after each row (appends when resuming)."""

    def __init__(self, path: Path, append: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a" if append else "w", encoding="utf-8")

    def log(self, row: dict[str, float]) -> None:
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class MlflowLogger:
    """MLflow run in a local file store at ``directory`` (params: the flat resolved config)."""

    def __init__(self, directory: Path, experiment: str, params: dict[str, Any]) -> None:
        try:
            import mlflow
        except ImportError:
            raise ResourceError("train.metrics.mlflow=true needs MLflow: pip install "
                                "'privtune[mlflow]'") from None
        self._mlflow = mlflow
        directory.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(directory.resolve().as_uri())
        mlflow.set_experiment(experiment)
        self._run = mlflow.start_run()
        mlflow.log_params({k: str(v)[:250] for k, v in params.items()})

    def log(self, row: dict[str, float]) -> None:
        vals = {k: float(v) for k, v in row.items()
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v)}
        self._mlflow.log_metrics(vals, step=int(row["step"]))

    def close(self) -> None:
        self._mlflow.end_run()


#: The per-step figures a DP run may show outside the vault: the step, the learning rate
#: (a schedule, no data in it) and the validation loss (held-out employees, not the training
#: data). Everything else a step logs (training loss, gradient norm, tokens per second, sampled
#: units, clipped units) is computed on the training data without noise.
PUBLIC_KEYS = ("step", "lr", "val_loss")


def public_row(row: dict[str, float]) -> dict[str, float]:
    """``row`` without the figures computed on the training data without noise."""
    return {k: v for k, v in row.items() if k in PUBLIC_KEYS}


class PublicOnly:
    """A sink that passes on only :func:`public_row` of each row (a DP run's MLflow store)."""

    def __init__(self, inner: MetricLogger) -> None:
        self.inner = inner

    def log(self, row: dict[str, float]) -> None:
        self.inner.log(public_row(row))

    def close(self) -> None:
        self.inner.close()


class MultiLogger:
    def __init__(self, loggers: list[MetricLogger]) -> None:
        self.loggers = loggers

    def log(self, row: dict[str, float]) -> None:
        for lg in self.loggers:
            lg.log(row)

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
