"""Per-unit gradients and gradient norms of a Linear layer from its inputs and output gradients.

For a Linear layer ``y = x W^T (+ b)`` applied to the tokens of row ``i`` (activations
``a_i: (T, d_in)``, output gradients ``g_i: (T, d_out)``), row ``i``'s weight gradient is
``G_i = sum_t g_it a_it^T``, and a unit's gradient is the sum of its rows' ``G_i``. Two exact
ways to get a unit's squared norm, chosen per layer by cost (:func:`choose`):

* **materialise**: ``G_u = sum_{i in u} G_i`` as a small ``(d_out, d_in)`` matrix per unit
  (``r x d`` for LoRA), one batched matmul: ``rows * T * d_in * d_out`` multiply-adds, and
  ``units * d_in * d_out`` memory, kept until the unit's clip factor is known.
* **ghost** (Gram trick): ``||G_u||^2 = sum_{i,j in u} sum_{t,s} (a_it . a_js)(g_it . g_js)``
  over the ordered row pairs of a unit, ``pairs * T^2 * (d_in + d_out)`` multiply-adds; the
  clipped sum is then formed from the kept ``a`` and ``g`` with each row weighted by its unit's
  clip factor (book-keeping). It wins only for very short sequences or wide layers.

No gradient of a frozen weight is ever formed: only the trainable (LoRA) layers are tapped.
Everything is computed in float32 at least (float64 inputs stay float64).
"""

from __future__ import annotations

import torch

MATERIALISE, GHOST = "materialise", "ghost"


def work_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def choose(rows: int, pairs: int, seq: int, d_in: int, d_out: int, units: int) -> str:
    """The cheaper exact method for one layer (multiply-adds, memory as a tie-breaker)."""
    mat = rows * seq * d_in * d_out + units * d_in * d_out
    ghost = pairs * seq * seq * (d_in + d_out) + rows * seq * (d_in + d_out)
    return GHOST if ghost < mat else MATERIALISE


def per_unit_grads(a: torch.Tensor, g: torch.Tensor, slots: torch.Tensor, units: int,
                   one_per_unit: bool) -> torch.Tensor:
    """``(units, d_out, d_in)``: each unit's summed weight gradient. ``a: (B, T, d_in)``,
    ``g: (B, T, d_out)``, ``slots: (B,)`` the unit of each row."""
    per_row = torch.bmm(g.transpose(1, 2), a)  # (B, d_out, d_in)
    if one_per_unit:
        return per_row
    out = per_row.new_zeros((units,) + per_row.shape[1:])
    return out.index_add_(0, slots, per_row)


def per_unit_bias_grads(g: torch.Tensor, slots: torch.Tensor, units: int,
                        one_per_unit: bool) -> torch.Tensor:
    per_row = g.sum(dim=1)  # (B, d_out)
    if one_per_unit:
        return per_row
    return per_row.new_zeros((units, per_row.shape[1])).index_add_(0, slots, per_row)


def ghost_sq_norms(a: torch.Tensor, g: torch.Tensor, pair_i: torch.Tensor, pair_j: torch.Tensor,
                   pair_unit: torch.Tensor, units: int, with_bias: bool) -> torch.Tensor:
    """``(units,)`` squared norms of each unit's summed gradient by the Gram trick over the
    ordered row pairs ``(pair_i[p], pair_j[p])`` of each unit (``pair_unit[p]``)."""
    same = bool(torch.equal(pair_i, pair_j))
    ai, gi = a[pair_i], g[pair_i]
    aj, gj = (ai, gi) if same else (a[pair_j], g[pair_j])
    aa = torch.bmm(ai, aj.transpose(1, 2))  # (P, T, T)
    gg = torch.bmm(gi, gj.transpose(1, 2))
    inner = (aa * gg).sum(dim=(1, 2))
    if with_bias:
        inner = inner + (gi.sum(dim=1) * gj.sum(dim=1)).sum(dim=1)
    return inner.new_zeros(units).index_add_(0, pair_unit, inner)


def weighted_grad(a: torch.Tensor, g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i G_i`` from activations and output gradients (book-keeping)."""
    d_out, d_in = g.shape[-1], a.shape[-1]
    gw = (g * w.view(-1, 1, 1)).reshape(-1, d_out)
    return gw.t() @ a.reshape(-1, d_in)
