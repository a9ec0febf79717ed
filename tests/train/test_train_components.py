"""The components of the training recipe, each on its own: schedule, sampler, early stopping,
precision rules, QLoRA availability, the labelled-positions loss and gradient accumulation."""

from __future__ import annotations

import itertools
import math
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.errors import ResourceError
from privtune.models.loading import load_local_model
from privtune.train import hardware
from privtune.train.data import IGNORE_INDEX
from privtune.train.early_stop import EarlyStopping
from privtune.train.hardware import resolve_precision
from privtune.train.loss import labelled_per_sequence_loss, per_sequence_loss
from privtune.train.qlora import check_qlora_available
from privtune.train.sampler import BatchSampler, split_by_length
from privtune.train.schedule import lr_factor


@given(kind=st.sampled_from(["cosine", "linear", "constant"]), warmup=st.integers(0, 20),
       total=st.integers(21, 300))
def test_schedules_warm_up_then_decay(kind, warmup, total):
    f = [lr_factor(s, kind, warmup, total) for s in range(total)]
    assert all(0.0 <= x <= 1.0 for x in f)
    if warmup:
        assert f[:warmup] == [(s + 1) / warmup for s in range(warmup)]
    assert f[warmup] == 1.0
    tail = f[warmup:]
    assert all(a >= b for a, b in itertools.pairwise(tail))
    if kind == "constant":
        assert set(tail) == {1.0}
    else:
        assert tail[-1] < 1.0 / (total - warmup) * 3 + 1e-9


def test_cosine_midpoint_and_linear_values():
    assert lr_factor(60, "cosine", 10, 110) == pytest.approx(0.5)
    assert lr_factor(35, "linear", 10, 110) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        lr_factor(0, "step", 0, 10)


@given(n=st.integers(1, 40), bs=st.integers(1, 9), by_len=st.booleans(), cut=st.integers(0, 30))
@settings(max_examples=40, deadline=None)
def test_sampler_is_full_balanced_and_resumable(n, bs, by_len, cut):
    lengths = [(i * 7) % 13 + 1 for i in range(n)]
    a = BatchSampler(lengths, bs, seed=3, group_by_length=by_len)
    seq = [a.next_batch() for _ in range(40)]
    assert all(len(b) == bs for b in seq)
    flat = [i for b in seq for i in b]
    epochs = len(flat) // n
    for e in range(epochs):  # every complete epoch is a permutation
        assert sorted(flat[e * n:(e + 1) * n]) == list(range(n))
    b = BatchSampler(lengths, bs, seed=3, group_by_length=by_len)
    for _ in range(cut):
        b.next_batch()
    state = b.state_dict()
    c = BatchSampler(lengths, bs, seed=99, group_by_length=by_len)
    c.load_state_dict(state)
    assert [c.next_batch() for _ in range(40 - cut)] == seq[cut:40]


def test_group_by_length_makes_batches_homogeneous():
    lengths = [1, 100] * 64
    plain = BatchSampler(lengths, 8, seed=0)
    grouped = BatchSampler(lengths, 8, seed=0, group_by_length=True)

    def spread(s):
        return sum(len({lengths[i] for i in s.next_batch()}) for _ in range(16))

    assert spread(grouped) == 16 < spread(plain)


def test_early_stopping_counts_evaluations_without_improvement():
    e = EarlyStopping(patience=2, min_delta=0.1)
    assert [e.update(v) for v in (5.0, 4.0, 3.95, 3.99, 3.0, 3.1, 3.2)] == [
        False, False, False, True, False, False, True]
    off = EarlyStopping(patience=0)
    assert not any(off.update(v) for v in (1.0, 2.0, 3.0, 4.0))
    f = EarlyStopping(2)
    f.load_state_dict(e.state_dict())
    assert (f.best, f.bad) == (3.0, 2)


def test_precision_rules(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu).dtype is None
    assert resolve_precision("fp32", cpu).name == "fp32"
    with pytest.raises(ResourceError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cpu)
    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ResourceError, match="no native bf16"):
        resolve_precision("bf16", cpu)
    monkeypatch.setattr(hardware, "cpu_supports_bf16", lambda: True)
    p = resolve_precision("bf16", cpu)
    assert p.dtype is torch.bfloat16 and not p.needs_scaler
    monkeypatch.setattr(hardware, "cuda_supports_bf16", lambda: False)
    p = resolve_precision("auto", torch.device("cuda"))
    assert p.dtype is torch.float16 and p.needs_scaler
    monkeypatch.setattr(hardware, "cuda_supports_bf16", lambda: True)
    assert resolve_precision("auto", torch.device("cuda")).dtype is torch.bfloat16


def test_qlora_without_cuda_or_bitsandbytes_is_a_clear_resource_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ResourceError, match="needs a CUDA GPU") as err:
        check_qlora_available()
    assert err.value.exit_code == 10
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # not installed
    with pytest.raises(ResourceError, match=r"privtune\[qlora\]"):
        check_qlora_available()


def test_device_cuda_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ResourceError, match="no CUDA GPU"):
        hardware.resolve_device("cuda")
    assert hardware.resolve_device("auto").type == "cpu"


@pytest.fixture(scope="module")
def model(tiny_base):
    m, _ = load_local_model(tiny_base)
    return m


@given(data=st.data())
@settings(max_examples=15, deadline=None)
@pytest.mark.slow  # pre-trains the tiny base (the `model` fixture)
def test_labelled_positions_loss_equals_full_logits_loss(model, data):
    b = data.draw(st.integers(1, 4))
    t = data.draw(st.integers(3, 24))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 10_000)))
    ids = torch.randint(0, model.config.vocab_size, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    labels = torch.where(torch.rand(b, t, generator=g) < 0.4, ids, torch.full_like(ids, IGNORE_INDEX))
    for row in range(b):  # right padding on some rows
        pad = data.draw(st.integers(0, t - 2))
        if pad:
            mask[row, -pad:] = 0
            labels[row, -pad:] = IGNORE_INDEX
    full = per_sequence_loss(model(input_ids=ids, attention_mask=mask).logits, labels)
    sparse = labelled_per_sequence_loss(model, ids, mask, labels)
    assert torch.equal(full[1], sparse[1])
    assert torch.allclose(full[0], sparse[0], atol=1e-5)


@pytest.mark.slow  # pre-trains the tiny base (the `model` fixture)
def test_labelled_loss_gradients_match_full_loss(model):
    torch.manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (3, 12))
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, :6] = IGNORE_INDEX
    w = model.get_output_embeddings().weight
    norm = model.model.norm.weight
    norm.requires_grad_(True)
    grads = []
    for fn in (lambda: per_sequence_loss(model(input_ids=ids, attention_mask=mask).logits, labels),
               lambda: labelled_per_sequence_loss(model, ids, mask, labels)):
        norm.grad = None
        per_seq, has = fn()
        ((per_seq * has).sum() / has.sum()).backward()
        grads.append(norm.grad.clone())
    norm.requires_grad_(False)
    w.grad = None
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
    assert not math.isnan(float(grads[0].sum()))


@given(lengths=st.lists(st.integers(1, 300), min_size=1, max_size=20), overhead=st.integers(0, 200))
@settings(max_examples=60, deadline=None)
def test_split_by_length_partitions_and_never_costs_more(lengths, overhead):
    chunks = split_by_length(lengths, overhead)
    assert sorted(k for c in chunks for k in c) == list(range(len(lengths)))
    cost = sum(len(c) * max(lengths[k] for k in c) + overhead for c in chunks)
    assert cost <= len(lengths) * max(lengths) + overhead  # never worse than one padded batch
    if overhead == 0:  # free calls: no padding at all
        assert all(len({lengths[k] for k in c}) == 1 for c in chunks)


@pytest.mark.slow  # pre-trains the tiny base (the `model` fixture)
def test_left_padding_keeps_the_mask(model):
    ids = torch.randint(0, model.config.vocab_size, (2, 8))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padded row: the mask matters and must be honoured
    labels = ids.clone()
    labels[:, :4] = IGNORE_INDEX
    full = per_sequence_loss(model(input_ids=ids, attention_mask=mask).logits, labels)
    sparse = labelled_per_sequence_loss(model, ids, mask, labels)
    assert torch.allclose(full[0], sparse[0], atol=1e-5)
