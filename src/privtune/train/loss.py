"""The fine-tuning loss: mean over sequences of each sequence's mean answer-token loss.

Every example weighs the same, whatever the length of its answer (a token-level mean would let
long answers dominate). Labels use ``-100`` for positions without loss, as in ``transformers``;
the shift (position t predicts token t+1) is done here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from privtune.train.data import IGNORE_INDEX


def per_sequence_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(loss_per_sequence, has_labels)``: shapes ``(batch,)``; rows without any
    labelled token get loss 0 and ``has_labels`` False."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    tok = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(shift_labels.shape)
    mask = shift_labels != IGNORE_INDEX
    counts = mask.sum(dim=1)
    sums = (tok * mask).sum(dim=1)
    return sums / counts.clamp(min=1), counts > 0


def sequence_mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Scalar loss: mean over labelled sequences of their mean token loss."""
    per_seq, has = per_sequence_loss(logits, labels)
    n = has.sum()
    if int(n) == 0:
        return logits.sum() * 0.0
    return (per_seq * has).sum() / n
