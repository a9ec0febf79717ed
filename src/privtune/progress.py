"""How long-running work reports progress without knowing about terminals: one ``ProgressFn``
(``step, total, metrics``), and the ``Reporter`` that hands one out per stage (the CLI's rich bars
on a terminal, :class:`Lines` when the output is a log, a pipe or CI, or ``Silent()`` for tests
and library users).

A reporter may also take notes (:func:`note`): an estimate before a long step ("pre-training the
base model: about 2 minutes on 2 cores") or a warning about data left out. Notes are numbers and
names of columns, stages and objects only, never data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

#: ``progress(step, total, metrics)``: metrics are numbers and short labels only, never data.
ProgressFn = Callable[[int, int, dict[str, Any]], None]

#: Seconds between two progress lines of :class:`Lines` (``PRIVTUNE_PROGRESS_EVERY``).
DEFAULT_EVERY = 10.0


class Reporter(Protocol):
    """Progress sink: one ``ProgressFn`` per stage, open while the stage runs."""

    def stage(self, description: str, total: int | None = None
              ) -> AbstractContextManager[ProgressFn]: ...


def note(reporter: Any, message: str, *, warning: bool = False) -> None:
    """Give ``reporter`` a note (an estimate, a warning), if it takes notes."""
    fn = getattr(reporter, "note", None)
    if fn is not None:
        fn(message, warning=warning)


class Silent:
    """A reporter that shows nothing."""

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[ProgressFn]:
        def update(step: int, tot: int, metrics: dict[str, Any]) -> None:
            return None

        yield update

    def note(self, message: str, *, warning: bool = False) -> None:
        return None


def fmt_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3700`` -> ``1h02m``."""
    s = round(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def fmt_metrics(metrics: dict[str, Any], shown: dict[str, str]) -> str:
    """The metrics named in ``shown`` (key -> label), formatted short."""
    parts = []
    for k, v in metrics.items():
        label = shown.get(k)
        if label is None:
            continue
        if k == "tokens_per_s":
            parts.append(f"{label} {v:,.0f}")
        elif isinstance(v, float):
            parts.append(f"{label} {v:.3f}")
        else:
            parts.append(f"{label} {v}")
    return "  ".join(parts)


class Lines:
    """A reporter for logs, pipes and CI: one line when a stage starts, one every ``every``
    seconds while it runs (step, rate, ETA and the shown metrics), one when it ends."""

    def __init__(self, write: Callable[[str], None], every: float = DEFAULT_EVERY,
                 shown: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write, self.every, self.clock = write, every, clock
        self.shown = shown or {}

    def note(self, message: str, *, warning: bool = False) -> None:
        self.write(("warning: " if warning else "") + message)

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[ProgressFn]:
        start = self.clock()
        state: dict[str, Any] = {"last": start, "step": 0, "total": total, "metrics": {}}
        self.write(f"[{description}] started" + (f" ({total} steps)" if total else ""))

        def line(prefix: str) -> str:
            elapsed = self.clock() - start
            step, tot = state["step"], state["total"]
            out = f"[{description}] {prefix}"
            if tot and tot > 1:
                out += f" {step}/{tot}"
                if step > 0 and elapsed > 0:
                    rate = step / elapsed
                    out += f", {rate:.2f} steps/s" if rate >= 1 else f", {1 / rate:.1f} s/step"
                    if prefix != "done" and step < tot:
                        out += f", ETA {fmt_duration((tot - step) / rate)}"
            out += f", elapsed {fmt_duration(elapsed)}"
            extra = fmt_metrics(state["metrics"], self.shown)
            return out + (f", {extra}" if extra else "")

        def update(step: int, tot: int, metrics: dict[str, Any]) -> None:
            state.update(step=step, total=tot or state["total"])
            state["metrics"].update(metrics)
            now = self.clock()
            if now - state["last"] >= self.every:
                state["last"] = now
                self.write(line("step" if state["total"] and state["total"] > 1 else "running"))

        yield update
        self.write(line("done"))
