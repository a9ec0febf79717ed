"""Continuous batching of concurrent requests on one base model (the embedded engine's scheduler).

One :class:`Batcher` per base model owns that model: a single scheduler thread runs every
forward pass, and request threads only submit work and read their own queue. Requests for any
adapter of the base share one batch: the LoRA layers get peft's per-row ``adapter_names``
(mixed-adapter batch inference), so two adapters never need two batches.

Why iteration-level (continuous) batching rather than a static batch per window: a static batch
runs until its longest answer ends, so a request arriving one step after a batch started waits
for all of it (its time to first token becomes the longest answer's latency) and the rows that
finished early leave the batch half empty. Here new requests join the running batch at the next
step boundary and finished rows leave at once; the only window is the short one
(:attr:`Batcher.window_s`, a few ms) used when the model is idle, so that clients arriving
together start together instead of as a batch of one followed by a batch of N-1.

Each step:

1. Newcomers (at most ``max_batch`` rows in all) are prefilled together, left-padded to their
   longest prompt with an attention mask and position ids counted over real tokens only, into
   a fresh KV cache; their first token is sampled. If that joint prefill raises, each newcomer
   is prefilled alone, so a request that breaks the model fails by itself.
2. Their cache is merged into the running batch's cache: both are left-padded (masked zeros)
   to the longer length and concatenated along the batch. Every row's real tokens stay
   right-aligned, so its positions, its causal and sliding-window mask and its keys are what
   they would be alone.
3. One decode step for every row (its last token, its own position), then per row: sample
   (greedy at temperature 0, else temperature then nucleus ``top_p``), hand the token to the
   row's queue, and retire the row on EOS, its own ``max_tokens``, its deadline or its
   cancellation. Retired rows are cut out of the cache, and columns that are padding for
   every remaining row are trimmed.

Per-row work (sampling, handing over) fails only its row. A failing decode step of the whole
batch (the model itself failing: out of memory, say) fails the rows in that step, the cache is
dropped, and the scheduler carries on with the next requests.

Token ids go to the reader, which decodes text in its own thread (:func:`read_pieces`), so the
scheduler thread does nothing but tensor work.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from privtune.errors import ResourceError

#: How long an idle scheduler waits for more requests after the first one arrives.
WINDOW_S = 0.005
#: Rows decoded together at most.
MAX_BATCH = 32
#: What :meth:`Batcher.close` queues to end the scheduler.
_STOP: Any = object()


class ServeClosedError(ResourceError):
    """A request reached a model whose scheduler has been closed (the server is stopping)."""


@dataclass
class BatchRequest:
    """One request to a :class:`Batcher`; its tokens arrive on ``out`` (ints, then None, or an
    exception)."""

    ids: list[int]
    adapter: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    timeout_s: float = 120.0
    cancelled: threading.Event = field(default_factory=threading.Event)
    out: queue.Queue[int | BaseException | None] = field(default_factory=queue.Queue)


@dataclass
class _Row:
    req: BatchRequest
    last: int = 0          # the last sampled token (the next step's input)
    pos: int = 0           # its position id
    made: int = 0          # tokens generated
    deadline: float = 0.0
    done: bool = False


class Batcher:
    """The scheduler of one base model (a peft model holding its adapters) and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, *, max_batch: int = MAX_BATCH,
                 window_s: float = WINDOW_S, name: str = "privtune-batch") -> None:
        self.model, self.tok = model, tokenizer
        self.max_batch, self.window_s = max(1, max_batch), max(0.0, window_s)
        self.eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad = int(pad if pad is not None else (self.eos if self.eos is not None else 0))
        self._pending: queue.Queue[BatchRequest] = queue.Queue()
        # transformers renamed ``past_key_values`` to ``cache`` (5.x); pass whichever it takes
        import inspect

        params = inspect.signature(model.get_base_model().forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._name = name
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._closed = False
        self._stopping = False
        #: Batch sizes of the latest decode steps (for tests), and totals (for the bench).
        self.steps: deque[int] = deque(maxlen=4096)
        self.steps_total = 0
        self.rows_total = 0

    # ------------------------------------------------------------ the callers' side
    def submit(self, req: BatchRequest) -> None:
        with self._start:
            if self._closed:
                raise ServeClosedError("the model is no longer served (the server is stopping)")
            self._pending.put(req)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the scheduler: requests still running finish first (up to ``timeout_s``), then
        the thread ends and lets go of the model; requests submitted afterwards are refused.
        Idempotent."""
        with self._start:
            self._closed = True
            thread = self._thread
            self._pending.put(_STOP)
        if thread is not None:
            thread.join(timeout_s)
        while True:  # anything queued behind the stop (a race with submit) is told, not lost
            try:
                req = self._pending.get_nowait()
            except queue.Empty:
                break
            if req is not _STOP:
                self._fail(req, ServeClosedError("the model is no longer served"))

    # ------------------------------------------------------------ the scheduler
    def _take(self, room: int, wait: bool) -> list[BatchRequest]:
        """Up to ``room`` pending requests; when ``wait`` (nothing running), block for the first
        one and then gather for :attr:`window_s`."""
        got: list[BatchRequest] = []
        if room <= 0 or self._stopping:
            return got
        if wait:
            got.append(self._pending.get())
            until = time.monotonic() + self.window_s
            while len(got) < room:
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    got.append(self._pending.get(timeout=left))
                except queue.Empty:
                    break
        while len(got) < room:
            try:
                got.append(self._pending.get_nowait())
            except queue.Empty:
                break
        if _STOP in got:  # close(): take nothing more; the running rows finish
            self._stopping = True
            got = [r for r in got if r is not _STOP]
        return got

    def _loop(self) -> None:
        import torch

        rows: list[_Row] = []
        cache: Any = None
        mask: Any = None
        self._stopping = False
        while True:
            new = self._take(self.max_batch - len(rows), wait=not rows)
            if self._stopping and not rows and not new:
                return
            try:
                with torch.inference_mode():
                    new = [r for r in new if not self._gone(r)]
                    if new:
                        rows, cache, mask = self._admit(rows, cache, mask, new)
                    rows, cache, mask = self._retire(rows, cache, mask)
                    if rows:
                        self._step(rows, cache, mask)
                        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
                        rows, cache, mask = self._retire(rows, cache, mask)
            except BaseException as exc:  # the batch's forward failed: its rows fail, we go on
                for req in [r.req for r in rows] + new:  # (a newcomer told twice reads once)
                    self._fail(req, exc)
                rows, cache, mask = [], None, None

    @staticmethod
    def _gone(req: BatchRequest) -> bool:
        if req.cancelled.is_set():
            req.out.put(None)
            return True
        return False

    @staticmethod
    def _fail(req: BatchRequest, exc: BaseException) -> None:
        req.out.put(exc if isinstance(exc, Exception) else RuntimeError(type(exc).__name__))

    def _forward(self, ids: Any, mask: Any, pos: Any, cache: Any, adapters: list[str]) -> Any:
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                         logits_to_keep=1, adapter_names=adapters, **{self._cache_arg: cache})
        return out.logits[:, -1, :]

    def _prefill(self, reqs: list[BatchRequest]) -> tuple[list[_Row], Any, Any]:
        """Prefill ``reqs`` together (each alone when that fails); returns the rows that made
        it, their cache and mask (None when none did)."""
        import torch
        from transformers import DynamicCache

        try:
            width = max(len(r.ids) for r in reqs)
            ids = torch.full((len(reqs), width), self.pad, dtype=torch.long)
            mask = torch.zeros((len(reqs), width), dtype=torch.long)
            for i, r in enumerate(reqs):
                ids[i, width - len(r.ids):] = torch.tensor(r.ids, dtype=torch.long)
                mask[i, width - len(r.ids):] = 1
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            cache = DynamicCache()
            logits = self._forward(ids, mask, pos, cache, [r.adapter for r in reqs])
        except Exception as exc:
            if len(reqs) == 1:
                self._fail(reqs[0], exc)
                return [], None, None
            parts = [self._prefill([r]) for r in reqs]
            kept = [p for p in parts if p[0]]
            if not kept:
                return [], None, None
            rows, cache, mask = kept[0]
            for more in kept[1:]:
                rows, cache, mask = rows + more[0], *_merge(cache, mask, more[1], more[2])
            return rows, cache, mask
        now = time.monotonic()
        rows = [_Row(r, pos=len(r.ids), deadline=now + r.timeout_s) for r in reqs]
        self._emit(rows, logits)
        return rows, cache, mask

    def _admit(self, rows: list[_Row], cache: Any, mask: Any,
               new: list[BatchRequest]) -> tuple[list[_Row], Any, Any]:
        got, c2, m2 = self._prefill(new)
        if not got:
            return rows, cache, mask
        if not rows:
            return got, c2, m2
        return rows + got, *_merge(cache, mask, c2, m2)

    def _step(self, rows: list[_Row], cache: Any, mask: Any) -> None:
        import torch

        ids = torch.tensor([[r.last] for r in rows], dtype=torch.long)
        pos = torch.tensor([[r.pos] for r in rows], dtype=torch.long)
        step_mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        logits = self._forward(ids, step_mask, pos, cache, [r.req.adapter for r in rows])
        self.steps.append(len(rows))
        self.steps_total += 1
        self.rows_total += len(rows)
        for r in rows:
            r.pos += 1
        self._emit(rows, logits)

    def _emit(self, rows: list[_Row], logits: Any) -> None:
        """Sample each row's next token from its logits and hand it over (per row: a failure
        fails only that row)."""
        import torch

        greedy = logits.argmax(dim=-1).tolist()
        for i, row in enumerate(rows):
            if row.done:
                continue
            try:
                req = row.req
                if req.temperature <= 0:
                    token = int(greedy[i])
                else:
                    token = _sample(logits[i].float(), req.temperature, req.top_p, torch)
                row.last = token
                row.made += 1
                req.out.put(token)
                if token == self.eos or row.made >= req.max_tokens:
                    row.done = True
                    req.out.put(None)
            except Exception as exc:
                row.done = True
                self._fail(row.req, exc)

    def _retire(self, rows: list[_Row], cache: Any, mask: Any) -> tuple[list[_Row], Any, Any]:
        """Drop finished, cancelled and timed-out rows from the batch."""
        if not rows:
            return rows, cache, mask
        now = time.monotonic()
        for row in rows:
            if not row.done and (row.req.cancelled.is_set() or now >= row.deadline):
                row.done = True
                row.req.out.put(None)
        keep = [i for i, r in enumerate(rows) if not r.done]
        if len(keep) == len(rows):
            return rows, cache, mask
        if not keep:
            return [], None, None
        import torch

        idx = torch.tensor(keep, dtype=torch.long)
        mask = mask[idx]
        live = mask.any(dim=0).nonzero()
        first = int(live[0]) if len(live) else 0
        mask = mask[:, first:]
        cache = _rebuild(cache, lambda t: t[idx, :, first:, :])
        return [rows[i] for i in keep], cache, mask


def _sample(logits: Any, temperature: float, top_p: float, torch: Any) -> int:
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        before = sorted_p.cumsum(0) - sorted_p  # mass of the tokens ranked above each one
        drop = before >= top_p
        drop[0] = False                          # the most likely token always stays
        sorted_p[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
    return int(torch.multinomial(probs, 1))


def _rebuild(cache: Any, fn: Callable[[Any], Any]) -> Any:
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=[(fn(layer.keys), fn(layer.values))
                                        for layer in cache.layers])


def _merge(c1: Any, m1: Any, c2: Any, m2: Any) -> tuple[Any, Any]:
    """Two batches' caches and masks as one: each left-padded (masked zeros) to the longer."""
    import torch
    from transformers import DynamicCache

    width = max(m1.shape[1], m2.shape[1])

    def pad(t: Any, n: int) -> Any:
        if n == 0:
            return t
        shape = list(t.shape)
        shape[-2 if t.dim() == 4 else 1] = n
        z = t.new_zeros(shape)
        return torch.cat([z, t], dim=-2 if t.dim() == 4 else 1)

    p1, p2 = width - m1.shape[1], width - m2.shape[1]
    layers = [(torch.cat([pad(a.keys, p1), pad(b.keys, p2)], dim=0),
               torch.cat([pad(a.values, p1), pad(b.values, p2)], dim=0))
              for a, b in zip(c1.layers, c2.layers, strict=True)]
    return DynamicCache(ddp_cache_data=layers), torch.cat([pad(m1, p1), pad(m2, p2)], dim=0)


def read_pieces(req: BatchRequest, tok: Any, on_end: Callable[[list[int], bool], None],
                cancel: Callable[[], None], stop: tuple[str, ...] = ()) -> Iterator[str]:
    """The text of ``req``'s answer as it is generated: each token decoded (incomplete UTF-8
    held back), leading whitespace of the answer dropped. With ``stop`` strings, the answer
    ends before the first one found (the row is cancelled) and the last ``len(longest) - 1``
    characters are held back until they cannot begin one. ``on_end(ids, stopped)`` gets the
    generated ids once the answer is complete; ``cancel`` runs however the reader stops."""
    ids: list[int] = []
    sent = ""
    started = False
    hold = max((len(s) for s in stop), default=1) - 1
    stopped = False

    def upto(text: str, n: int) -> str:
        nonlocal sent, started
        if n <= len(sent):
            return ""
        new, sent = text[len(sent):n], text[:n]
        if not started:
            new = new.lstrip()
            started = bool(new)
        return new

    def cut(text: str) -> int:
        found = [k for k in (text.find(s, max(0, len(sent) - hold)) for s in stop) if k >= 0]
        return min(found) if found else -1

    try:
        while True:
            item = req.out.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            ids.append(item)
            text = tok.decode(ids, skip_special_tokens=True)
            if text.endswith("\ufffd") or not text.startswith(sent):
                continue
            k = cut(text) if stop else -1
            if k >= 0:
                stopped = True
                req.cancelled.set()
                new = upto(text, k)
                if new:
                    yield new
                break
            new = upto(text, len(text) - hold)
            if new:
                yield new
        if not stopped:
            text = tok.decode(ids, skip_special_tokens=True)
            if text.startswith(sent):
                new = upto(text, len(text))
                if new:
                    yield new
    finally:
        cancel()
    on_end(ids, stopped)
