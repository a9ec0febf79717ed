"""Differentially private LoRA fine-tuning with the employee as the privacy unit.

``config`` (the ``dp:`` section), ``units`` (which examples form a unit), ``sampler`` (Poisson
sampling of units), ``grad_norms`` / ``clip`` (per-unit gradients and clipping of the LoRA
layers), ``noise``, ``step`` / ``session`` / ``strategy`` (the DP-SGD step, plugged into
train's loop as a step strategy: dp uses train's parts, train never imports dp),
``accountant`` / ``plan`` (epsilon, delta and the calibrated noise) and ``ledger`` (epsilon
charged per source export of the people, budgets). See docs/dp.md.
"""
