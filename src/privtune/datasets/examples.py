"""Build chat-format fine-tuning examples from de-identified HR data and policies.

Three kinds, each a dict ``{"id", "kind", "messages", "employee_ids"}`` with a system, a user and
an assistant message:

* ``policy_qa``: a question about a policy section -> the section's key sentence;
  ``employee_ids`` is empty;
* ``employee_fact``: an HR staff assistant answers a question about a pseudonymised employee
  (department, job title, manager, salary band, performance rating) in one of several
  phrasings; ``employee_ids`` is ``[token]``, or ``[token, manager token]`` when the answer
  names the manager;
* ``ticket_triage``: a masked ticket text -> its category; ``employee_ids`` is ``[token]``.

Inputs are the outputs of :class:`privtune.deid.Deidentifier` (employee rows as dicts,
de-identified tickets) and ``{name: markdown}`` policies. Output is a deterministic function of the inputs
and ``seed``; each example is short (:data:`MAX_TOKENS` estimated tokens at most; long tickets
are cut at a word boundary).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from privtune.datasets import templates as _T
from privtune.datasets.policy_sections import parse_policy
from privtune.datasets.templates import TemplatesSpec

MAX_TOKENS = 120
#: Characters per token assumed by :func:`approx_tokens` (pessimistic for English + tokens).
CHARS_PER_TOKEN = 3.5
MAX_TICKET_CHARS = 260

# The texts of the default templates (kept as module constants for callers and tests).
SYSTEM_POLICY = _T.SYSTEM_POLICY
SYSTEM_FACT = _T.SYSTEM_FACT
SYSTEM_TRIAGE = _T.SYSTEM_TRIAGE
POLICY_QUESTIONS: tuple[str, ...] = tuple(_T.PolicyQATemplate().questions)
# field -> (question phrasings, answer template); {e} = employee token, {v} = value.
FACT_TEMPLATES: dict[str, tuple[tuple[str, ...], str]] = {
    k: (tuple(f.questions), f.answer) for k, f in _T._default_fields().items()
}


def approx_tokens(text: str) -> int:
    """A tokenizer-free, pessimistic token estimate."""
    return int(len(text) / CHARS_PER_TOKEN) + 1


def example_tokens(example: Mapping[str, Any]) -> int:
    """Estimated tokens of all messages of an example (plus 4 per message for the template)."""
    return sum(approx_tokens(m["content"]) + 4 for m in example["messages"])


def _chat(system: str, user: str, assistant: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " ..."


def policy_examples(policies: Mapping[str, str], rng: random.Random, per_section: int = 2,
                    template: _T.PolicyQATemplate | None = None) -> list[dict]:
    """``policy_qa`` examples: ``per_section`` distinct phrasings per section."""
    t = template or _T.PolicyQATemplate(per_section=per_section)
    per_section, questions = t.per_section, t.questions
    out = []
    for doc in sorted(policies):
        for i, sec in enumerate(parse_policy(doc, policies[doc])):
            answer = _shorten(sec.key_sentence, 200)
            for k, q in enumerate(rng.sample(questions, min(per_section, len(questions)))):
                question = q.format(title=sec.title, heading=sec.heading.lower())
                out.append(
                    {
                        "id": f"policy_qa:{doc}:{i}:{k}",
                        "kind": "policy_qa",
                        "messages": _chat(t.system, question, answer),
                        "employee_ids": [],
                    }
                )
    return out


def fact_examples(employees: Sequence[Mapping[str, Any]], rng: random.Random,
                  template: _T.EmployeeFactTemplate | None = None) -> list[dict]:
    """``employee_fact`` examples: one per known fact per employee, phrasing drawn by ``rng``."""
    t = template or _T.EmployeeFactTemplate()
    out = []
    for row in sorted(employees, key=lambda r: str(r.get("employee_id") or "")):
        e = row.get("employee_id")
        if not e:
            continue
        for field, spec in t.fields.items():
            questions, answer = spec.questions, spec.answer
            v = row.get(field)
            if v is None or str(v).strip() == "":
                continue
            ids = [e, str(v)] if spec.value_is_employee else [e]
            out.append(
                {
                    "id": f"employee_fact:{e}:{field}",
                    "kind": "employee_fact",
                    "messages": _chat(
                        t.system, rng.choice(questions).format(e=e), answer.format(e=e, v=v)
                    ),
                    "employee_ids": ids,
                }
            )
    return out


def triage_examples(tickets: Sequence[Mapping[str, Any]],
                    template: _T.TicketTriageTemplate | None = None) -> list[dict]:
    """``ticket_triage`` examples from masked tickets that have a category and an employee."""
    tpl = template or _T.TicketTriageTemplate()
    out = []
    for t in sorted(tickets, key=lambda r: str(r.get("id"))):
        e, category, text = t.get("employee_id"), t.get("category"), t.get("text")
        if not (e and category and isinstance(text, str) and text.strip()):
            continue
        user = tpl.user.format(text=_shorten(text, tpl.max_chars))
        out.append(
            {
                "id": f"ticket_triage:{t.get('id')}",
                "kind": "ticket_triage",
                "messages": _chat(tpl.system, user, tpl.answer.format(category=category)),
                "employee_ids": [e],
            }
        )
    return out


def build_examples(
    employees_deid: Sequence[Mapping[str, Any]],
    tickets_deid: Sequence[Mapping[str, Any]],
    policies: Mapping[str, str],
    seed: int,
    templates: TemplatesSpec | None = None,
) -> list[dict]:
    """The enabled kinds of examples (all three by default), in a seeded shuffled order."""
    t = templates or TemplatesSpec()
    rng = random.Random(f"privtune-datasets-{seed}")
    examples: list[dict] = []
    if t.policy_qa.enabled:
        examples += policy_examples(policies, rng, template=t.policy_qa)
    if t.employee_fact.enabled:
        examples += fact_examples(employees_deid, rng, t.employee_fact)
    if t.ticket_triage.enabled:
        examples += triage_examples(tickets_deid, t.ticket_triage)
    rng.shuffle(examples)
    return examples
