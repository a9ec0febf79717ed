"""Per-unit gradient clipping for the trainable Linear (LoRA) layers, through hooks.

:class:`UnitClipper` taps every trainable ``nn.Linear`` of the model (PEFT's ``lora_A`` /
``lora_B``): while attached, the layer runs through :class:`_TappedLinear`, an autograd
function whose backward gets exactly the input saved by *that* forward and the output
gradient, hands both to the clipper and returns the input gradient only: autograd never forms
the (unclipped, summed) weight gradient, which DP would throw away. Nothing is kept between
forwards: a forward that failed half-way leaves no stale activation behind (its saved tensors
are freed with its graph), and :meth:`begin` clears whatever a failed backward left.

One micro-batch is a set of whole units (the caller never splits a unit's rows across
micro-batches). Per micro-batch: :meth:`begin` (``slots``: the unit of each row), forward,
``backward`` of the **sum** of the rows' losses, :meth:`end`: every layer's per-unit squared
norms are summed into each unit's norm, clip factors ``min(1, C / (norm + 1e-6))`` are
formed, and each layer adds ``sum_u c_u G_u`` to its clipped-sum accumulator (from the
materialised per-unit gradients or, for ghost-norm layers, from the kept activations and
output gradients weighted by row). The two-pass alternative (norms, then a second backward of
the re-weighted loss) would cost a second backward; materialising per-unit LoRA gradients
(``r x d`` each) costs one small batched matmul per layer. :meth:`finish` adds the noise and
writes ``.grad``.

Every trainable parameter must belong to a tapped Linear layer; anything else (e.g. a trained
embedding) is refused rather than trained without clipping.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from privtune.dp.grad_norms import (
    GHOST,
    MATERIALISE,
    choose,
    ghost_sq_norms,
    per_unit_bias_grads,
    per_unit_grads,
    weighted_grad,
    work_dtype,
)
from privtune.errors import TrainingError

EPS = 1e-6


class _TappedLinear(torch.autograd.Function):
    """``F.linear`` whose backward reports ``(input, output grad)`` to the clipper and returns
    no weight or bias gradient (the clipper forms the clipped ones)."""

    @staticmethod
    def forward(ctx, x, weight, bias, clipper, layer):
        ctx.save_for_backward(x, weight)
        ctx.clipper, ctx.layer = clipper, layer
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            gx = (g @ weight.to(g.dtype)).to(x.dtype)
        ctx.clipper._on_grad(ctx.layer, x.detach(), g)
        return gx, None, None, None, None


def _total(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The sum of ``tensors``, added left to right (as ``sum()`` would, without its ``0``)."""
    out = tensors[0]
    for t in tensors[1:]:
        out = out + t
    return out


@dataclass
class _Layer:
    name: str
    module: nn.Linear
    calls: int = 0
    # per micro-batch: materialised per-unit grads, or kept (a, g) for ghost layers
    mats: list[tuple[torch.Tensor, torch.Tensor | None]] = field(default_factory=list)
    kept: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    sq: torch.Tensor | None = None  # ghost layers: per-unit squared norms
    acc_w: torch.Tensor | None = None
    acc_b: torch.Tensor | None = None

    @property
    def has_bias(self) -> bool:
        return self.module.bias is not None and self.module.bias.requires_grad


class UnitClipper:
    """Per-unit clipped gradient sums of a model's trainable Linear layers."""

    def __init__(self, model: nn.Module, max_grad_norm: float, strategy: str = "auto") -> None:
        if strategy not in ("auto", MATERIALISE, GHOST):
            raise ValueError(f"unknown strategy {strategy!r}")
        self.C = float(max_grad_norm)
        self.strategy = strategy
        self.layers: list[_Layer] = []
        covered: set[int] = set()
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear) and m.weight.requires_grad:
                self.layers.append(_Layer(name, m))
                covered.add(id(m.weight))
                if m.bias is not None and m.bias.requires_grad:
                    covered.add(id(m.bias))
        stray = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
        if stray:
            raise TrainingError(
                f"differential privacy clips trainable Linear (LoRA) layers only; {len(stray)} "
                f"other trainable parameter(s), e.g. '{stray[0]}'")
        if not self.layers:
            raise TrainingError("no trainable Linear layer to train with differential privacy")
        self.params = [p for L in self.layers for p in
                       ([L.module.weight] + ([L.module.bias] if L.has_bias else []))]
        self._handles: list[Any] = []
        self._active = False
        self.methods: dict[str, int] = {MATERIALISE: 0, GHOST: 0}

    # ------------------------------------------------------------------ taps
    def attach(self) -> UnitClipper:
        """Route the tapped layers through :class:`_TappedLinear` (plain ``forward`` whenever no
        micro-batch is open or gradients are off, e.g. evaluation)."""
        if not self._handles:
            for L in self.layers:
                # an instance attribute shadowing the class's forward (``detach`` deletes it)
                L.module.__dict__["forward"] = types.MethodType(self._forward(L), L.module)
                self._handles.append(L.module)
        return self

    def detach(self) -> None:
        for m in self._handles:
            del m.forward  # back to the class's forward
        self._handles.clear()

    def _forward(self, L: _Layer):
        plain = type(L.module).forward

        def forward(mod: nn.Linear, x: torch.Tensor) -> torch.Tensor:
            if not self._active or not torch.is_grad_enabled():
                return plain(mod, x)
            L.calls += 1
            return _TappedLinear.apply(x, mod.weight, mod.bias, self, L)
        return forward

    # ------------------------------------------------------------------ micro-batches
    def begin(self, slots: torch.Tensor, units: int) -> None:
        """Start a micro-batch whose row ``i`` belongs to unit ``slots[i]`` (``0..units-1``)."""
        self.slots = slots
        self.units = units
        self.one_per_unit = slots.numel() == units and bool(
            torch.equal(slots, torch.arange(units, device=slots.device)))
        if self.one_per_unit:
            self.pair_i = self.pair_j = self.pair_unit = slots
        else:
            same = slots.view(-1, 1) == slots.view(1, -1)
            self.pair_i, self.pair_j = same.nonzero(as_tuple=True)
            self.pair_unit = slots[self.pair_i]
        for L in self.layers:
            L.calls, L.mats, L.kept, L.sq = 0, [], [], None
        self._active = True

    def _on_grad(self, L: _Layer, a: torch.Tensor, g: torch.Tensor) -> None:
        if not self._active:
            return
        dt = work_dtype(g)
        B = a.shape[0]
        a = a.reshape(B, -1, a.shape[-1]).to(dt)
        g = g.detach().reshape(B, -1, g.shape[-1]).to(dt)
        method = self.strategy
        if method == "auto":
            method = choose(B, int(self.pair_i.numel()), a.shape[1], a.shape[2], g.shape[2],
                            self.units)
        if L.calls > 1:  # a layer used twice per forward: only per-unit sums are exact
            method = MATERIALISE
        self.methods[method] += 1
        if method == MATERIALISE:
            w = per_unit_grads(a, g, self.slots, self.units, self.one_per_unit)
            b = (per_unit_bias_grads(g, self.slots, self.units, self.one_per_unit)
                 if L.has_bias else None)
            L.mats.append((w, b))
        else:
            sq = ghost_sq_norms(a, g, self.pair_i, self.pair_j, self.pair_unit, self.units,
                                L.has_bias)
            L.sq = sq if L.sq is None else L.sq + sq
            L.kept.append((a, g))

    def end(self) -> torch.Tensor:
        """Close the micro-batch: clip each unit, add to the accumulators; returns the units'
        gradient norms before clipping."""
        self._active = False
        sq = None
        for L in self.layers:
            parts = []
            if L.mats:
                w = _total([m[0] for m in L.mats])
                parts.append(w.pow(2).sum(dim=(1, 2)))
                b = _total([m[1] for m in L.mats if m[1] is not None]) if L.has_bias else None
                if b is not None:
                    parts.append(b.pow(2).sum(dim=1))
                L.mats = [(w, b)]
            if L.sq is not None:
                if L.mats:  # mixed methods within one micro-batch cannot happen for one call
                    raise TrainingError("internal error: mixed clipping methods in one layer")
                parts.append(L.sq)
            for p in parts:
                sq = p if sq is None else sq + p.to(sq.dtype)
        if sq is None:  # nothing reached a tapped layer (no labelled token)
            return torch.zeros(self.units)
        norms = sq.clamp(min=0).sqrt()
        factors = (self.C / (norms + EPS)).clamp(max=1.0)
        for L in self.layers:
            if L.mats:
                w, b = L.mats[0]
                c = factors.to(w.dtype)
                self._add(L, torch.einsum("u,uoi->oi", c, w),
                          (c @ b) if b is not None else None)
            for a, g in L.kept:
                wr = factors[self.slots].to(g.dtype)
                self._add(L, weighted_grad(a, g, wr),
                          (g.sum(dim=1) * wr.view(-1, 1)).sum(dim=0) if L.has_bias else None)
            L.mats, L.kept, L.sq = [], [], None
        return norms.detach()

    def _add(self, L: _Layer, w: torch.Tensor, b: torch.Tensor | None) -> None:
        L.acc_w = w if L.acc_w is None else L.acc_w + w
        if b is not None:
            L.acc_b = b if L.acc_b is None else L.acc_b + b

    # ------------------------------------------------------------------ the step's gradient
    def clipped_sum(self) -> list[torch.Tensor]:
        """The step's clipped sum for each of :attr:`params` (zeros when nothing was added)."""
        out = []
        for L in self.layers:
            w = L.module.weight
            out.append(L.acc_w.to(w.dtype) if L.acc_w is not None else torch.zeros_like(w))
            if L.has_bias:
                b = L.module.bias
                out.append(L.acc_b.to(b.dtype) if L.acc_b is not None else torch.zeros_like(b))
        return out

    def reset(self) -> None:
        self._active = False
        for L in self.layers:
            L.calls, L.mats, L.kept, L.sq, L.acc_w, L.acc_b = 0, [], [], None, None, None
