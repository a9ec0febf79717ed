"""How long-running work reports progress without knowing about terminals: one ``ProgressFn``
(``step, total, metrics``), and the ``Reporter`` that hands one out per stage (the CLI's rich bars,
or ``Silent()`` for tests and library users)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

#: ``progress(step, total, metrics)``: metrics are numbers and short labels only, never data.
ProgressFn = Callable[[int, int, dict[str, Any]], None]


class Reporter(Protocol):
    """Progress sink: one ``ProgressFn`` per stage, open while the stage runs."""

    def stage(self, description: str, total: int | None = None
              ) -> AbstractContextManager[ProgressFn]: ...


class Silent:
    """A reporter that shows nothing."""

    @contextmanager
    def stage(self, description: str, total: int | None = None) -> Iterator[ProgressFn]:
        def update(step: int, tot: int, metrics: dict[str, Any]) -> None:
            return None

        yield update
