"""Per-unit clipped gradient sums equal a naive loop (one backward per unit, clip, sum)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from privtune.dp.clip import UnitClipper
from privtune.dp.grad_norms import GHOST, MATERIALISE
from privtune.errors import TrainingError
from privtune.train.data import collate
from privtune.train.loss import labelled_per_sequence_loss

from .conftest import naive_clipped_sum, random_encoded, rel_err, tiny_lora_mistral


def clipper_sum(model, encoded, units, C, strategy, micro: list[list[int]] | None = None):
    """The clipper over micro-batches of whole units (default: all units in one)."""
    clipper = UnitClipper(model, C, strategy).attach()
    micro = micro or [list(range(len(units)))]
    norms = {}
    for chunk in micro:
        rows, slots = [], []
        for local, u in enumerate(chunk):
            rows += units[u]
            slots += [local] * len(units[u])
        b = collate([encoded[i] for i in rows], 0)
        clipper.begin(torch.tensor(slots), len(chunk))
        per_seq, has = labelled_per_sequence_loss(model, b["input_ids"], b["attention_mask"],
                                                  b["labels"])
        (per_seq * has).sum().backward()
        for u, n in zip(chunk, clipper.end().tolist()):
            norms[u] = n
    out = clipper.clipped_sum()
    clipper.detach()
    return out, [norms[u] for u in range(len(units))], clipper


@pytest.mark.parametrize("strategy", ["auto", MATERIALISE, GHOST])
@pytest.mark.parametrize("C", [0.05, 1e6])  # every unit clipped / none clipped
@pytest.mark.slow  # a naive per-example backward pass per unit on a model
def test_example_level_matches_naive(strategy, C):
    model = tiny_lora_mistral()
    enc = random_encoded(7, seed=1)
    units = [[i] for i in range(len(enc))]
    ref, ref_norms = naive_clipped_sum(model, enc, units, C)
    got, norms, _ = clipper_sum(model, enc, units, C, strategy)
    assert rel_err(got, ref) < 1e-5
    assert norms == pytest.approx(ref_norms, rel=1e-6)


@pytest.mark.slow  # a naive per-unit backward pass
@pytest.mark.parametrize("targets", [["lm_head"], ["q_proj", "lm_head"]])
def test_adapted_output_head_matches_naive(targets):
    # LoRA on the output head: the loss must keep the head's (batch, seq) shape for the
    # clipper (it used to apply the head to the answer positions only and crash in DP steps)
    model = tiny_lora_mistral(seed=5, target_modules=targets)
    enc = random_encoded(6, seed=4)
    units = [[0, 1], [2], [3, 4], [5]]
    ref, ref_norms = naive_clipped_sum(model, enc, units, 0.5)
    got, norms, _ = clipper_sum(model, enc, units, 0.5, "auto", micro=[[0, 2], [1, 3]])
    assert rel_err(got, ref) < 1e-5
    assert norms == pytest.approx(ref_norms, rel=1e-6)


@pytest.mark.slow  # a naive per-employee backward pass across micro-batches
@pytest.mark.parametrize("strategy", [MATERIALISE, GHOST])
def test_employee_level_matches_naive_across_micro_batches(strategy):
    model = tiny_lora_mistral(seed=3)
    enc = random_encoded(10, seed=2)
    # units of several examples; example 4 is about two employees: in two units
    units = [[0, 1, 4], [2], [3, 4, 5, 6], [7, 8], [9]]
    ref, ref_norms = naive_clipped_sum(model, enc, units, 2.0)
    assert min(ref_norms) < 2.0 < max(ref_norms)  # some clipped, some not
    got, norms, _ = clipper_sum(model, enc, units, 2.0, strategy, micro=[[0, 3], [2, 1], [4]])
    assert rel_err(got, ref) < 1e-5
    assert norms == pytest.approx(ref_norms, rel=1e-6)


@pytest.mark.slow  # builds a model and runs a naive per-unit reference loop
def test_lora_a_gradients_are_checked_too():
    """With lora_B perturbed, lora_A has non-zero gradients and they match the reference."""
    model = tiny_lora_mistral(seed=5)
    enc = random_encoded(4, seed=4)
    units = [[0, 1], [2, 3]]
    ref, _ = naive_clipped_sum(model, enc, units, 0.3)
    got, _, clipper = clipper_sum(model, enc, units, 0.3, "auto")
    names = [L.name for L in clipper.layers]
    a_idx = [k for k, n in enumerate(names) if "lora_A" in n]
    assert a_idx and all(float(ref[k].abs().max()) > 0 for k in a_idx)
    assert rel_err([got[k] for k in a_idx], [ref[k] for k in a_idx]) < 1e-5


@pytest.mark.slow  # builds a model and runs a naive per-unit reference loop
def test_float32_model_matches_float64_reference():
    m64 = tiny_lora_mistral(seed=6)
    m32 = tiny_lora_mistral(seed=6, dtype=torch.float32)
    enc = random_encoded(6, seed=6)
    units = [[0, 1, 2], [3], [4, 5]]
    ref, _ = naive_clipped_sum(m64, enc, units, 0.4)
    got, _, _ = clipper_sum(m32, enc, units, 0.4, "auto")
    assert rel_err([g.double() for g in got], ref) < 1e-4


class SmallNet(nn.Module):
    """A random model that is not a transformer: embeddings, two trainable Linear layers with
    bias (one applied twice per forward), a frozen Linear in between."""

    def __init__(self, vocab: int, d: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab, d)
        self.a = nn.Linear(d, d)
        self.frozen = nn.Linear(d, d)
        self.b = nn.Linear(d, vocab)
        self.emb.requires_grad_(False)
        self.frozen.requires_grad_(False)
        self.double()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.a(self.emb(ids)))
        h = torch.tanh(self.a(self.frozen(h)))  # the same layer twice
        return self.b(h)


def _small_loss(model, ids):
    logits = model(ids)
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    ).view(ids.shape[0], -1).mean(dim=1)


@pytest.mark.slow  # 15 hypothesis examples, each a naive per-unit reference loop
@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=5), st.integers(2, 9),
       st.floats(0.01, 10.0), st.integers(0, 10_000))
def test_random_small_models_with_bias_and_reuse(sizes, T, C, seed):
    model = SmallNet(vocab=23, d=8, seed=seed)
    n = sum(sizes)
    ids = torch.randint(0, 23, (n, T), generator=torch.Generator().manual_seed(seed))
    units, k = [], 0
    for s in sizes:
        units.append(list(range(k, k + s)))
        k += s
    params = [p for p in model.parameters() if p.requires_grad]
    ref = [torch.zeros_like(p) for p in params]
    for members in units:
        grads = torch.autograd.grad(_small_loss(model, ids[members]).sum(), params)
        norm = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
        for r, g in zip(ref, grads):
            r.add_(g * min(1.0, C / (norm + 1e-6)))
    for strategy in ("auto", GHOST):
        clipper = UnitClipper(model, C, strategy).attach()
        clipper.begin(torch.tensor([u for u, m in enumerate(units) for _ in m]), len(units))
        _small_loss(model, ids).sum().backward()
        clipper.end()
        got = clipper.clipped_sum()
        clipper.detach()
        assert rel_err(got, ref) < 1e-7


@pytest.mark.slow  # builds a model and runs a naive per-unit reference loop
def test_stale_activations_after_a_failed_forward_do_not_leak_into_the_next_step():
    model = tiny_lora_mistral(seed=7)
    enc = random_encoded(4, seed=7)
    units = [[0], [1], [2, 3]]
    ref, _ = naive_clipped_sum(model, enc, units, 0.2)
    clipper = UnitClipper(model, 0.2).attach()
    # a forward that fails half-way (after some LoRA layers have run)
    layer = model.base_model.model.model.layers[1]
    h = layer.register_forward_pre_hook(lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    b = collate([enc[0], enc[1]], 0)
    clipper.begin(torch.tensor([0, 1]), 2)
    with pytest.raises(RuntimeError):
        labelled_per_sequence_loss(model, b["input_ids"], b["attention_mask"], b["labels"])
    clipper.end()
    clipper.reset()
    h.remove()
    model.zero_grad(set_to_none=True)
    got, _, _ = clipper_sum(model, enc, units, 0.2, "auto")
    assert rel_err(got, ref) < 1e-5


def test_other_trainable_parameters_are_refused():
    model = tiny_lora_mistral()
    model.base_model.model.model.norm.weight.requires_grad_(True)
    with pytest.raises(TrainingError, match="Linear"):
        UnitClipper(model, 1.0)
