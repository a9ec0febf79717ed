"""Differentially private LoRA fine-tuning with the employee as the privacy unit.

``config`` (the ``dp:`` section), ``units`` (which examples form a unit), ``sampler`` (Poisson
sampling of units), ``grad_norms`` / ``clip`` (per-unit gradients and clipping of the LoRA
layers), ``noise``, ``step`` / ``session`` (the DP-SGD step inside the training loop),
``accountant`` / ``plan`` (epsilon, delta and the calibrated noise) and ``ledger`` (epsilon
spent per dataset, budgets). See docs/dp.md.
"""
