"""Chat examples -> token ids and loss labels, and the padding collate function.

An example is a dict::

    {"id": str, "kind": str, "employee_ids": [str, ...],
     "messages": [{"role": "system" | "user" | "assistant", "content": str}, ...]}

It is rendered with the tokenizer's own chat template (Mistral's ``[INST] ... [/INST]``) and
encoded without adding special tokens (the template writes ``<s>``). Labels are ``-100``
everywhere except on the tokens of the assistant turns: the answer text and its closing
``</s>``. The spans are found from the template itself: rendering the conversation up to an
assistant turn with ``add_generation_prompt=True`` gives where the answer starts, rendering it
including that turn gives where it ends, and the fast tokenizer's character offsets map the
spans to tokens. This works for any template whose renderings of a conversation's prefixes are
prefixes of the full rendering (Mistral's, Llama's, ChatML...).

Sequences longer than ``max_seq_len`` are truncated at the end; an example whose answer falls
wholly beyond the limit keeps no labelled token and is skipped by training and evaluation.
Nothing here logs or puts texts in error messages: they may hold personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from privtune.errors import InputError

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Encoded:
    """One tokenised example: ``input_ids`` and ``labels`` of equal length (plain lists);
    ``index`` is the example's position in the list it was encoded from (-1 if unknown)."""

    input_ids: list[int]
    labels: list[int]
    index: int = -1

    @property
    def n_labels(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


def check_example(example: dict[str, Any], index: int | None = None) -> list[dict[str, str]]:
    """Validate an example's shape; return its messages. Errors name the row, never content."""
    msgs = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(msgs, list) or not msgs:
        raise InputError("example has no 'messages' list", row=index, field="messages")
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(
            m.get("content"), str
        ):
            raise InputError(
                "each message needs a role (system/user/assistant) and a string content",
                row=index, field="messages",
            )
    if not any(m["role"] == "assistant" for m in msgs):
        raise InputError("example has no assistant message to learn", row=index, field="messages")
    return msgs


def _render(tokenizer: Any, messages: list[dict[str, str]], gen_prompt: bool,
            index: int | None = None) -> str:
    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=gen_prompt
        )
    except Exception as exc:
        raise InputError(
            f"the chat template rejects this conversation ({type(exc).__name__}); roles must "
            "alternate user/assistant after an optional system message",
            row=index, field="messages",
        ) from None


def assistant_char_spans(
    tokenizer: Any, messages: list[dict[str, str]], index: int | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the ``[start, end)`` character span of each answer."""
    full = _render(tokenizer, messages, False, index)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], True, index) if i else ""
        upto = _render(tokenizer, messages[: i + 1], False, index)
        if not (full.startswith(upto) and upto.startswith(prompt)):
            raise InputError(
                "the chat template does not render conversations incrementally; cannot find "
                "the assistant's tokens", row=index, field="messages",
            )
        spans.append((len(prompt), len(upto)))
    return full, spans


def encode_example(
    tokenizer: Any, example: dict[str, Any], max_seq_len: int, index: int | None = None
) -> Encoded:
    """Tokenise one example; labels are the ids on assistant spans, ``-100`` elsewhere."""
    msgs = check_example(example, index)
    text, spans = assistant_char_spans(tokenizer, msgs, index)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    for k, (s, _e) in enumerate(enc["offset_mapping"]):
        if any(a <= s < b for a, b in spans):
            labels[k] = ids[k]
    return Encoded(ids[:max_seq_len], labels[:max_seq_len])


def encode_examples(
    tokenizer: Any, examples: list[dict[str, Any]], max_seq_len: int
) -> tuple[list[Encoded], int]:
    """Encode all examples; returns the usable ones and how many were dropped (no labels left
    after truncation)."""
    out: list[Encoded] = []
    dropped = 0
    for i, ex in enumerate(examples):
        e = encode_example(tokenizer, ex, max_seq_len, i)
        if e.n_labels:
            out.append(Encoded(e.input_ids, e.labels, i))
        else:
            dropped += 1
    return out, dropped


def collate(batch: list[Encoded], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: ``input_ids`` (pad id), ``attention_mask`` (0) and ``labels`` (-100)."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        labels[row, :n] = torch.tensor(e.labels, dtype=torch.long)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
