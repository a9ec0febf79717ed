"""Multi-process data-parallel training within a site, on ``torch.distributed``.

``train.nproc: N`` (``privtune train --nproc N``) runs one training on ``N`` processes of this
machine: rank 0 is the calling process (it owns the workspace, the progress display, the
checkpoint sink and every output), ranks ``1..N-1`` are spawned (``torch.multiprocessing``,
start method ``spawn``) and receive only what the run needs (the base model's directory, the
examples, the spec and the step strategy, through the process pipe: no temporary file holds
them). The processes meet through a ``FileStore`` in a private temporary directory (rendezvous
keys only) and talk over gloo on CPU (nccl when training on CUDA, one GPU per rank).

A :class:`Comm` is what a step strategy sees of the group. Every rank draws the **same** batch
(plain training: the seeded sampler, identical on every rank; DP: rank 0 draws the Poisson
sample from its secure randomness and broadcasts it) and computes only its share
(:func:`shard`); the partial gradients are summed across ranks (``all_reduce``), so each
step's update equals the one-process update on the same batch up to float rounding, and the
parameters stay identical on every rank. For DP the clipped sums are summed, then rank 0 alone
adds the noise (once per step, from its :class:`~privtune.dp.csprng.SecureRandom`) and
broadcasts the noisy gradient: the sampling, the clipping bound, the noise and therefore the
privacy analysis are exactly those of one process. :class:`LocalComm` is the one-process group
(every operation is the identity), so there is one step implementation, not two.

Ranks other than 0 write nothing the run keeps: their loop writes into a private temporary
directory that is removed, takes no checkpoints and reports no progress. A rank that fails
makes the others fail within :data:`TIMEOUT_S` (gloo's collective timeout); rank 0 then stops
the remaining workers and raises :class:`~privtune.errors.TrainingError`.
"""

from __future__ import annotations

import datetime
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from privtune.errors import TrainingError
from privtune.tmp import private_tempdir

#: Seconds a collective waits for a rank before the group gives up.
TIMEOUT_S = 300
#: Seconds rank 0 waits for a worker to exit after training.
JOIN_S = 60

T = TypeVar("T")


class Comm(Protocol):
    """The process group as a step strategy sees it."""

    rank: int
    world: int

    def all_reduce_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Sum each tensor across ranks, in place (every rank gets the sum)."""

    def broadcast_(self, tensors: Sequence[torch.Tensor], src: int = 0) -> None:
        """Overwrite each tensor with rank ``src``'s, in place."""

    def broadcast_object(self, obj: T | None, src: int = 0) -> T:
        """Rank ``src``'s (picklable) ``obj`` on every rank."""

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Each value summed across ranks (float64)."""


class LocalComm:
    """One process: every collective is the identity."""

    rank = 0
    world = 1

    def all_reduce_(self, tensors: Sequence[torch.Tensor]) -> None:
        pass

    def broadcast_(self, tensors: Sequence[torch.Tensor], src: int = 0) -> None:
        pass

    def broadcast_object(self, obj: T | None, src: int = 0) -> T:
        assert obj is not None
        return obj

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]


LOCAL = LocalComm()


class TorchComm:
    """The default ``torch.distributed`` process group (already initialised)."""

    def __init__(self, device: torch.device) -> None:
        import torch.distributed as dist

        self.dist = dist
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.device = device

    def _flat(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.detach().reshape(-1).to(self.device, torch.float32) for t in tensors])

    def _unflat(self, flat: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
        offset = 0
        with torch.no_grad():
            for t in tensors:
                n = t.numel()
                t.copy_(flat[offset:offset + n].view_as(t).to(t.dtype))
                offset += n

    def all_reduce_(self, tensors: Sequence[torch.Tensor]) -> None:
        if tensors:  # one flat buffer: one collective per step, not one per LoRA matrix
            flat = self._flat(tensors)
            self.dist.all_reduce(flat)
            self._unflat(flat, tensors)

    def broadcast_(self, tensors: Sequence[torch.Tensor], src: int = 0) -> None:
        if tensors:
            flat = self._flat(tensors)
            self.dist.broadcast(flat, src)
            self._unflat(flat, tensors)

    def broadcast_object(self, obj: T | None, src: int = 0) -> T:
        box: list[Any] = [obj]
        self.dist.broadcast_object_list(box, src)
        return box[0]

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if self.device.type == "cuda":
            t = t.to(self.device)
        self.dist.all_reduce(t)
        return [float(v) for v in t.cpu()]


def shard(items: Sequence[T], comm: Comm, weight: Callable[[T], int] | None = None) -> list[T]:
    """This rank's share of ``items`` (the same list on every rank): items are dealt, heaviest
    first, to the rank with the least weight so far (ties: the lower rank), so shards are
    balanced and every item goes to exactly one rank. Order within a shard follows ``items``."""
    if comm.world == 1:
        return list(items)
    w = weight or (lambda _x: 1)
    order = sorted(range(len(items)), key=lambda i: (-w(items[i]), i))
    load = [0] * comm.world
    mine: list[int] = []
    for i in order:
        r = min(range(comm.world), key=lambda k: (load[k], k))
        load[r] += max(1, w(items[i]))
        if r == comm.rank:
            mine.append(i)
    return [items[i] for i in sorted(mine)]


# ---------------------------------------------------------------------------------- launching

#: ``body(comm) -> result``: what every rank runs once the group is up (rank 0's result is kept).
Body = Callable[[Comm], T]


def _init_group(rank: int, world: int, store_file: str, device_kind: str) -> torch.device:
    import torch.distributed as dist

    backend = "nccl" if device_kind == "cuda" else "gloo"
    device = torch.device("cpu")
    if device_kind == "cuda":
        torch.cuda.set_device(rank % max(1, torch.cuda.device_count()))
        device = torch.device("cuda", torch.cuda.current_device())
    dist.init_process_group(backend, init_method=f"file://{store_file}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    return device


def _threads(world: int) -> None:
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))


def _worker(rank: int, world: int, store_file: str, device_kind: str, payload: bytes) -> None:
    """A spawned rank (1..N-1): join the group, run the body, leave."""
    import torch.distributed as dist

    _threads(world)
    body = pickle.loads(payload)  # noqa: S301 - our own pickled callable, from our own parent
    device = _init_group(rank, world, store_file, device_kind)
    try:
        body(TorchComm(device))
    finally:
        dist.destroy_process_group()


def run_parallel(nproc: int, body: Body[T], worker_body: Body[Any], device_kind: str = "cpu") -> T:
    """Run ``body`` as rank 0 in this process and ``worker_body`` (picklable: a module-level
    function or a ``functools.partial`` of one) in ``nproc - 1`` spawned processes; returns
    ``body``'s result. Any rank failing fails the run (:class:`TrainingError`)."""
    if nproc < 2:
        return body(LOCAL)
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if dist.is_initialized():
        raise TrainingError("a multi-process run cannot start inside another process group")
    if device_kind == "cuda" and torch.cuda.device_count() < nproc:
        raise TrainingError(f"train.nproc={nproc} needs {nproc} CUDA GPUs; "
                            f"{torch.cuda.device_count()} found")
    payload = pickle.dumps(worker_body)
    ctx = mp.get_context("spawn")
    with private_tempdir("ddp") as tmp:
        store_file = str(Path(tmp) / "rendezvous")
        procs = [ctx.Process(target=_worker, args=(r, nproc, store_file, device_kind, payload),
                             daemon=True) for r in range(1, nproc)]
        for p in procs:
            p.start()
        failed: BaseException | None = None
        result: T | None = None
        try:
            _threads(nproc)
            device = _init_group(0, nproc, store_file, device_kind)
            try:
                result = body(TorchComm(device))
            finally:
                dist.destroy_process_group()
        except BaseException as exc:
            failed = exc
        for p in procs:
            p.join(JOIN_S if failed is None else 5)
            if p.is_alive():
                p.terminate()
                p.join(5)
        codes = [p.exitcode for p in procs]
        if failed is not None:
            if isinstance(failed, Exception) and not isinstance(failed, TrainingError) \
                    and any(c for c in codes):
                raise TrainingError(f"multi-process training failed: worker exit codes {codes} "
                                    f"({type(failed).__name__} on rank 0)") from failed
            raise failed
        if any(c != 0 for c in codes):
            raise TrainingError(f"multi-process training failed: worker exit codes {codes}")
    assert result is not None
    return result
