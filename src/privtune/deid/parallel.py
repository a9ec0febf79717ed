"""Run a function over chunks of records on all cores (spawned workers), in order.

Spawned (not forked) workers: safe when torch or other threaded libraries are loaded in the
parent. ``state`` is sent once to each worker (it may hold the HMAC key: it travels over the
worker pipe, never through a file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

from privtune.progress import ProgressFn

T = TypeVar("T")
#: Records per work unit sent to a worker process.
CHUNK_RECORDS = 500
#: Below this many records, worker start-up costs more than it saves.
PARALLEL_MIN_RECORDS = 3000

_STATE: Any = None


def _init(state: Any) -> None:
    global _STATE
    _STATE = state


def _call(args: tuple[Callable[[Any, Sequence[Any]], Any], Sequence[Any]]) -> Any:
    fn, chunk = args
    return fn(_STATE, chunk)


def chunked_map(
    fn: Callable[[Any, Sequence[Any]], T],
    state: Any,
    items: Sequence[Any],
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    chunk: int | None = None,
    min_parallel: int | None = None,
) -> list[T]:
    """``[fn(state, chunk) for chunk in chunks(items)]``, in parallel when worth it."""
    chunk = chunk or CHUNK_RECORDS
    min_parallel = PARALLEL_MIN_RECORDS if min_parallel is None else min_parallel
    n = len(items)
    chunks = [items[i : i + chunk] for i in range(0, n, chunk)]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    out: list[T] = []
    done = 0
    if workers > 1 and n >= min_parallel and len(chunks) > 1:
        with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=get_context("spawn"),
                                 initializer=_init, initargs=(state,)) as pool:
            for c, res in zip(chunks, pool.map(_call, [(fn, c) for c in chunks])):
                out.append(res)
                done += len(c)
                if progress is not None:
                    progress(done, n, {})
        return out
    for c in chunks:
        out.append(fn(state, c))
        done += len(c)
        if progress is not None:
            progress(done, n, {})
    return out
