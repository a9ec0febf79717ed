"""What a stage returns: its typed record (what the next stage takes), its vault outputs, and
its figures (counts and numbers only, never PII: what goes into summary.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")


@dataclass
class StageResult(Generic[R]):
    """A stage's record (``None`` for stages whose outputs are plain vault refs), outputs
    (vault refs) and figures (counts and numbers only, never PII)."""

    name: str
    record: R
    outputs: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: What the stage left out or could not do and the user should know (one line each: counts,
    #: column and object names, never data); shown as warnings and kept in summary.json.
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = dict(self.figures)
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        out["seconds"] = round(self.seconds, 2)
        return out
