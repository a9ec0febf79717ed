"""Rank classification: each choice scored by the summed log-likelihood of its answer tokens,
equal to a direct computation from the full logits; accuracy is the share ranked first."""

from __future__ import annotations

import pytest
import torch

from privtune.models.loading import load_local_model
from privtune.train.classify import answer_of, choice_scores, prompt_of, rank_accuracy
from privtune.train.data import encode_example

pytestmark = pytest.mark.slow  # loads the session's tiny base

CHOICES = ["Category: payroll", "Category: leave", "Category: it_access"]


def _ticket(text: str, category: str) -> dict:
    return {"kind": "ticket_triage", "employee_ids": ["EMP-x"], "messages": [
        {"role": "system", "content": "Reply with the ticket's category."},
        {"role": "user", "content": f"Ticket: {text}"},
        {"role": "assistant", "content": f"Category: {category}"}]}


def test_scores_are_answer_log_likelihoods_and_accuracy_is_argmax(tiny_base):
    model, tok = load_local_model(tiny_base)
    tickets = [_ticket("my payslip is wrong", "payroll"), _ticket("I need days off", "leave"),
               _ticket("cannot log in", "it_access")]
    assert answer_of(tickets[0]) == "Category: payroll"
    assert [m["role"] for m in prompt_of(tickets[0])] == ["system", "user"]
    scores = choice_scores(model, tok, [prompt_of(t) for t in tickets], CHOICES, batch_size=4)
    assert scores.shape == (3, 3) and bool((scores < 0).all())
    # the same figure from the full logits, one conversation at a time
    for i, t in enumerate(tickets):
        for j, c in enumerate(CHOICES):
            enc = encode_example(tok, {"messages": [*prompt_of(t),
                                                    {"role": "assistant", "content": c}]}, 256)
            ids = torch.tensor([enc.input_ids])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            labels = torch.tensor(enc.labels[1:])
            keep = labels != -100
            want = float(logp[keep].gather(1, labels[keep][:, None]).sum())
            assert float(scores[i, j]) == pytest.approx(want, rel=1e-4, abs=1e-3)
    expected = float((scores.argmax(1) == torch.arange(3)).float().mean())
    assert rank_accuracy(model, tok, tickets, CHOICES) == pytest.approx(expected)
    # a ticket whose answer is not among the choices is an error, not a silent miss
    with pytest.raises(KeyError):
        rank_accuracy(model, tok, [_ticket("x", "unknown")], CHOICES)
    assert rank_accuracy(model, tok, [], CHOICES) != rank_accuracy(model, tok, [], CHOICES)  # nan
