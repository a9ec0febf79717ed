"""The embedded engine's scheduler (privtune.serve.batch) on a tiny random Mistral with two LoRA
adapters that answer differently: concurrent requests decoded together give each request the
tokens it gets alone (token-exact, greedy), each with its own max_tokens, adapter, sampling,
stop strings, cancellation, deadline and failure.

Token-exact is asserted, not a float tolerance: every row is computed by the same kernels in
the batch as alone (left padding is masked out, positions count real tokens only), and on this
CPU build the row results of a matmul do not depend on how many rows it has. Should a future
kernel change that, the tiny model's greedy choices would only flip on near-ties; these tests
would say so rather than hide it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # builds a model and runs many decode steps (~10 s)

TEXTS = [f"Employee {i} asks about leave policy number {i * 7} and the holiday rules of team "
         f"{i % 5}." for i in range(300)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, PeftModel

    from privtune.models.tiny import TinyModelSpec, build_tiny_model
    from privtune.models.tokenizer import train_tokenizer

    tok = train_tokenizer(TEXTS, 400, Path(tmp_path_factory.mktemp("tok")))
    torch.manual_seed(0)
    base = build_tiny_model(TinyModelSpec(vocab_size=400, hidden_size=64, intermediate_size=128,
                                          num_hidden_layers=2), tok)
    with torch.no_grad():  # large random weights: varied answers instead of one token repeated
        for p in base.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.5)
    model = PeftModel(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                       init_lora_weights=False), adapter_name="a0")
    model.add_adapter("a1", LoraConfig(r=4, lora_alpha=64, init_lora_weights=False,
                                       target_modules=["q_proj", "v_proj", "o_proj"]))
    model.eval()
    return model, tok


def _batcher(tiny: tuple[Any, Any], **kw: Any) -> Any:
    from privtune.serve.batch import Batcher

    return Batcher(*tiny, window_s=kw.pop("window_s", 0.05), **kw)


def _prompt(i: int, tok: Any) -> list[int]:
    ids = tok(TEXTS[i])["input_ids"]
    return ids[: 3 + (i * 5) % len(ids)]  # prompts of different lengths: real left padding


def _start(b: Any, ids: list[int], adapter: str = "a0", max_tokens: int = 12,
           **kw: Any) -> Any:
    from privtune.serve.batch import BatchRequest

    req = BatchRequest(list(ids), adapter, max_tokens, **kw)
    b.submit(req)
    return req


def _collect(req: Any, cancel_after: int | None = None) -> tuple[list[int], bool, Any]:
    """(the generated ids, whether the answer completed, the error if it failed)."""
    out: list[int] = []
    while True:
        item = req.out.get(timeout=60)
        if item is None:
            return out, True, None
        if isinstance(item, BaseException):
            return out, False, item
        out.append(item)
        if cancel_after is not None and len(out) == cancel_after:
            req.cancelled.set()  # the client went away
            return out, False, None


def _run(b: Any, ids: list[int], adapter: str = "a0", max_tokens: int = 12,
         **kw: Any) -> tuple[list[int], bool, Any]:
    return _collect(_start(b, ids, adapter, max_tokens, **kw))


def _together(b: Any, jobs: list[tuple[Any, ...]], kws: list[dict[str, Any]] | None = None
              ) -> list[tuple[list[int], bool, Any]]:
    """Submit every job at once (they land in one window), then read each answer."""
    reqs = [_start(b, *j, **(kws[n] if kws else {})) for n, j in enumerate(jobs)]
    return [_collect(r) for r in reqs]


def test_concurrent_greedy_answers_equal_each_alone_with_their_own_max_tokens_and_adapter(tiny):
    _, tok = tiny
    b = _batcher(tiny)
    jobs = [(_prompt(i, tok), f"a{i % 2}", 4 + 3 * i) for i in range(8)]
    alone = [_run(b, *j) for j in jobs]
    assert max(b.steps) == 1  # one at a time
    b.steps.clear()
    together = _together(b, jobs)
    assert together == alone
    assert all(done and err is None for _, done, err in together)
    assert [len(ids) for ids, _, _ in together] == [4 + 3 * i for i in range(8)]
    assert b.steps[0] == 8  # really decoded together, and rows left as they finished
    assert list(b.steps) == sorted(b.steps, reverse=True) and b.steps[-1] == 1


def test_requests_from_many_threads_are_batched(tiny):
    _, tok = tiny
    b = _batcher(tiny, window_s=0.2)
    jobs = [(_prompt(i, tok), f"a{i % 2}", 6) for i in range(6)]
    alone = [_run(b, *j) for j in jobs]
    b.steps.clear()
    res: list[Any] = [None] * len(jobs)
    ts = [threading.Thread(target=lambda n=n: res.__setitem__(n, _run(b, *jobs[n])))
          for n in range(len(jobs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert res == alone and max(b.steps) > 1


def test_mixed_adapters_in_one_batch_each_get_their_own_adapters_answer(tiny):
    _, tok = tiny
    b = _batcher(tiny)
    ids = _prompt(3, tok)
    alone0, alone1 = _run(b, ids, "a0")[0], _run(b, ids, "a1")[0]
    assert alone0 != alone1  # the two adapters answer the same prompt differently
    b.steps.clear()
    got = _together(b, [(ids, a) for a in ["a0", "a1"] * 3])
    assert [g[0] for g in got] == [alone0, alone1] * 3
    assert b.steps[0] == 6


def test_newcomers_join_a_running_batch_at_the_next_step(tiny):
    """Continuous batching: a request arriving while others decode joins them (its answer is
    still its answer alone) instead of waiting for the batch to finish."""
    _, tok = tiny
    b = _batcher(tiny, window_s=0.0)
    long_ids, late_ids = _prompt(5, tok), _prompt(6, tok)
    alone_long, alone_late = _run(b, long_ids, max_tokens=200), _run(b, late_ids, max_tokens=5)
    b.steps.clear()
    first = _start(b, long_ids, max_tokens=200)
    while len(b.steps) < 3:  # the long answer is decoding
        time.sleep(0.001)
    late = _run(b, late_ids, max_tokens=5)
    during = len(b.steps)
    assert late == alone_late and _collect(first) == alone_long
    assert during < 200 and 2 in b.steps  # it ran alongside, and finished long before


def test_one_request_cancelled_mid_batch_leaves_the_others_complete(tiny):
    _, tok = tiny
    b = _batcher(tiny)
    jobs = [(_prompt(i, tok), f"a{i % 2}", 150) for i in range(4)]
    alone = [_run(b, *j) for j in jobs]
    b.steps.clear()
    reqs = [_start(b, *j) for j in jobs]
    got = _collect(reqs[1], cancel_after=3)
    assert got[0] == alone[1][0][:3]
    for i in (0, 2, 3):
        assert _collect(reqs[i]) == alone[i]
    rest = []
    while (item := reqs[1].out.get(timeout=60)) is not None:
        rest.append(item)
    assert len(got[0] + rest) < 150  # its row left the batch early...
    assert b.steps[0] == 4 and 3 in b.steps  # ...and the others carried on without it


def test_a_request_that_breaks_the_model_fails_alone(tiny):
    """The joint prefill raises for one request's tokens: each newcomer is prefilled alone, so
    only that request fails and the others get their answers."""
    model, tok = tiny
    poison = 399  # a token id only the bad request carries

    class Breaking:
        def get_base_model(self) -> Any:
            return model.get_base_model()

        def __call__(self, *, input_ids: Any, **kw: Any) -> Any:
            if bool((input_ids == poison).any()):
                raise RuntimeError("injected failure")
            return model(input_ids=input_ids, **kw)

    b = _batcher((Breaking(), tok))
    jobs = [(_prompt(i, tok), "a0", 10) for i in range(4)]
    alone = [_run(b, *j) for j in jobs]
    b.steps.clear()
    got = _together(b, [*jobs[:2], (_prompt(9, tok) + [poison], "a1", 10), *jobs[2:]])
    assert [got[0], got[1], got[3], got[4]] == alone
    assert got[2][0] == [] and isinstance(got[2][2], RuntimeError)
    assert str(got[2][2]) == "injected failure"
    assert b.steps[0] == 4  # the four others still decoded together
    assert _run(b, *jobs[0]) == alone[0]  # the scheduler carries on


def test_a_failing_decode_step_fails_its_rows_and_the_scheduler_carries_on(tiny):
    model, tok = tiny
    state = {"steps": 0, "fail": True}

    class FailsOnce:
        def get_base_model(self) -> Any:
            return model.get_base_model()

        def __call__(self, **kw: Any) -> Any:
            if kw["input_ids"].shape[1] == 1:
                state["steps"] += 1
                if state["fail"] and state["steps"] == 3:
                    state["fail"] = False
                    raise MemoryError("out of memory")
            return model(**kw)

    b = _batcher((FailsOnce(), tok))
    got = _together(b, [(_prompt(i, tok),) for i in range(2)])
    assert all(not done and isinstance(err, Exception) for _, done, err in got)
    assert all(len(ids) == 3 for ids, _, _ in got)  # the first token, then two steps
    assert _run(b, _prompt(0, tok))[1]


def test_deadline_ends_only_its_own_row(tiny):
    _, tok = tiny
    b = _batcher(tiny)
    full = _run(b, _prompt(2, tok), max_tokens=40)
    got = _together(b, [(_prompt(2, tok), "a0", 40), (_prompt(4, tok), "a0", 40)],
                    [{}, {"timeout_s": 0.0}])
    assert got[0] == full
    assert got[1][1] and len(got[1][0]) <= 1  # ended at its deadline, normally (not an error)


def test_sampling_rows_keep_their_own_temperature_and_top_p(tiny):
    import torch

    _, tok = tiny
    b = _batcher(tiny)
    ids = _prompt(1, tok)
    greedy = _run(b, ids, max_tokens=10)
    torch.manual_seed(1)
    got = _together(b, [(ids, "a0", 10)] * 3,
                    [{}, {"temperature": 1.5, "top_p": 0.0}, {"temperature": 2.0}])
    assert got[0] == greedy  # a sampling neighbour does not disturb a greedy row
    assert got[1] == greedy  # top_p 0 keeps only the most likely token: greedy
    assert got[2][0] != greedy[0]  # high temperature, whole nucleus: something else


def test_read_pieces_stops_before_a_stop_string_and_holds_back_its_prefix(tiny):
    from privtune.serve.batch import read_pieces

    _, tok = tiny
    b = _batcher(tiny)
    ids = _prompt(7, tok)

    def text(stop: tuple[str, ...], n: int = 30) -> tuple[list[str], list[Any]]:
        req = _start(b, ids, "a0", n)
        end: list[Any] = []
        pieces = list(read_pieces(req, tok, lambda out, s: end.append((len(out), s)),
                                  req.cancelled.set, stop))
        return pieces, end

    whole, end = text(())
    full = "".join(whole)
    assert end == [(30, False)] and len(full) > 12
    stop = full[8:11]
    k = full.find(stop)
    pieces, end = text((stop, "never-there"))
    assert "".join(pieces) == full[:k] and end[0][1]
    assert end[0][0] < 30  # generation stopped early
    assert all(stop not in p for p in pieces)


def test_close_lets_running_answers_finish_ends_the_thread_and_refuses_newcomers(tiny):
    from privtune.serve.batch import BatchRequest, ServeClosedError

    _, tok = tiny
    b = _batcher(tiny)
    jobs = [(_prompt(i, tok), f"a{i % 2}", 10) for i in range(3)]
    alone = [_run(b, *j) for j in jobs]
    reqs = [_start(b, *j) for j in jobs]
    time.sleep(0.1)  # they are running
    b.close()
    assert [_collect(r) for r in reqs] == alone  # finished, complete, before the thread ended
    assert b._thread is not None and not b._thread.is_alive()
    assert not [t for t in threading.enumerate() if t is b._thread]
    with pytest.raises(ServeClosedError):
        b.submit(BatchRequest(list(jobs[0][0]), "a0", 4))
    b.close()  # idempotent


def test_an_idle_scheduler_closes_at_once(tiny):
    _, tok = tiny
    b = _batcher(tiny)
    _run(b, _prompt(0, tok), "a0", 3)  # the thread exists and now waits for work
    t0 = time.monotonic()
    b.close()
    assert time.monotonic() - t0 < 5 and not b._thread.is_alive()
