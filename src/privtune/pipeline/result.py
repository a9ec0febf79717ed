"""What a stage returns, and how stages report progress without knowing about terminals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@dataclass
class StageResult:
    """A stage's outputs (vault refs) and figures (counts and numbers only, never PII)."""

    name: str
    outputs: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # in-process only, never serialised

    def summary(self) -> dict[str, Any]:
        out = dict(self.figures)
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        out["seconds"] = round(self.seconds, 2)
        return out


class Reporter(Protocol):
    """Progress sink: the CLI shows rich bars, tests and library users can pass ``Silent()``."""

    def stage(self, description: str, total: int | None = None) -> Any: ...


class Silent:
    """A reporter that shows nothing."""

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[ProgressFn]:
        def update(step: int, tot: int, metrics: dict[str, Any]) -> None:
            return None

        yield update
