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


def split_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """``(decoder, lm_head)`` of a causal LM whose logits are ``lm_head(decoder(x))`` (Mistral,
    Llama, ...), looking through PEFT wrappers; ``None`` when the model does not expose them."""
    get_base = getattr(model, "get_base_model", None)  # PEFT wrappers
    base = get_base() if get_base is not None else model
    get_decoder = getattr(base, "get_decoder", None)
    get_head = getattr(base, "get_output_embeddings", None)
    if get_decoder is None or get_head is None:
        return None
    try:
        decoder, head = get_decoder(), get_head()
    except (AttributeError, NotImplementedError):
        return None
    if decoder is None or head is None or getattr(base.config, "final_logit_softcapping", None):
        return None
    return decoder, head


def _right_padded(mask: torch.Tensor | None) -> bool:
    """True when every row of ``mask`` is ones followed by zeros (or ``mask`` is None)."""
    if mask is None:
        return True
    return bool((mask[:, 1:] <= mask[:, :-1]).all()) and bool((mask[:, 0] == 1).all())


def labelled_per_sequence_loss(
    model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`per_sequence_loss` computed with the output head applied **only at the positions
    that predict a labelled token** (the assistant's answer), instead of at every position.

    The transformer body runs on the whole sequence as usual; the ``hidden -> vocab`` projection
    (and its backward pass), which for a small model with a 32k vocabulary is most of the
    compute and of the activation memory, runs on the answer positions only. The result equals
    :func:`per_sequence_loss` of the full logits up to float rounding. Falls back to the full
    logits when the model does not expose ``get_decoder`` / ``get_output_embeddings``.
    """
    parts = split_head(model)
    if parts is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        return per_sequence_loss(logits, labels)
    decoder, head = parts
    if any(p.requires_grad for p in head.parameters()):
        # An adapted output head (LoRA on ``lm_head``) keeps the full ``(batch, seq, vocab)``
        # shape: DP's per-unit clipping taps every trainable Linear per row and position.
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        return per_sequence_loss(logits, labels)
    # Causal attention never lets a token see the padding that follows it, so on right-padded
    # rows the mask changes nothing for the labelled positions; without it SDPA takes its
    # causal path.
    mask_arg = None if _right_padded(attention_mask) else attention_mask
    hidden = decoder(input_ids=input_ids, attention_mask=mask_arg, use_cache=False)[0]
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    rows, cols = mask.nonzero(as_tuple=True)
    logits = head(hidden[:, :-1][rows, cols]).float()
    tok = F.cross_entropy(logits, shift_labels[rows, cols], reduction="none")
    batch = labels.shape[0]
    sums = torch.zeros(batch, dtype=tok.dtype, device=tok.device).index_add(0, rows, tok)
    counts = mask.sum(dim=1)
    return sums / counts.clamp(min=1), counts > 0
