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

Inputs are the outputs of :mod:`privtune.pii.deidentify` (employee rows as dicts, masked
tickets) and ``{name: markdown}`` policies. Output is a deterministic function of the inputs
and ``seed``; each example is short (:data:`MAX_TOKENS` estimated tokens at most; long tickets
are cut at a word boundary).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from privtune.datasets.policy_sections import parse_policy

MAX_TOKENS = 120
#: Characters per token assumed by :func:`approx_tokens` (pessimistic for English + tokens).
CHARS_PER_TOKEN = 3.5
MAX_TICKET_CHARS = 260

SYSTEM_POLICY = "You are an HR assistant. Answer from the company's HR policies."
SYSTEM_FACT = "You are an HR staff assistant. Employees are referred to by pseudonymous tokens."
SYSTEM_TRIAGE = "You are an HR helpdesk assistant. Reply with the ticket's category."

POLICY_QUESTIONS: tuple[str, ...] = (
    "What does the {title} say about {heading}?",
    "Under the {title}, what is the rule on {heading}?",
    "Can you summarise the {heading} section of the {title}?",
    "What is company policy on {heading}?",
)

# field -> (question phrasings, answer template); {e} = employee token, {v} = value.
FACT_TEMPLATES: dict[str, tuple[tuple[str, ...], str]] = {
    "department": (
        ("Which department is {e} in?", "What department does {e} work in?", "{e} belongs to which team?"),
        "{e} works in the {v} department.",
    ),
    "job_title": (
        ("What is {e}'s job title?", "What role does {e} have?", "What position does {e} hold?"),
        "{e} is employed as {v}.",
    ),
    "manager_id": (
        ("Who is {e}'s manager?", "Who does {e} report to?", "Who manages {e}?"),
        "{e} reports to {v}.",
    ),
    "salary_band": (
        ("What is {e}'s salary band?", "Which pay band is {e} in?", "How much does {e} earn, as a band?"),
        "{e} is in the {v} salary band.",
    ),
    "performance_rating": (
        ("What was {e}'s last performance rating?", "How was {e} rated in the last review?"),
        "{e} received a performance rating of {v}.",
    ),
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


def policy_examples(policies: Mapping[str, str], rng: random.Random, per_section: int = 2) -> list[dict]:
    """``policy_qa`` examples: ``per_section`` distinct phrasings per section."""
    out = []
    for doc in sorted(policies):
        for i, sec in enumerate(parse_policy(doc, policies[doc])):
            answer = _shorten(sec.key_sentence, 200)
            for k, q in enumerate(rng.sample(POLICY_QUESTIONS, min(per_section, len(POLICY_QUESTIONS)))):
                question = q.format(title=sec.title, heading=sec.heading.lower())
                out.append(
                    {
                        "id": f"policy_qa:{doc}:{i}:{k}",
                        "kind": "policy_qa",
                        "messages": _chat(SYSTEM_POLICY, question, answer),
                        "employee_ids": [],
                    }
                )
    return out


def fact_examples(employees: Sequence[Mapping[str, Any]], rng: random.Random) -> list[dict]:
    """``employee_fact`` examples: one per known fact per employee, phrasing drawn by ``rng``."""
    out = []
    for row in sorted(employees, key=lambda r: str(r.get("employee_id") or "")):
        e = row.get("employee_id")
        if not e:
            continue
        for field, (questions, answer) in FACT_TEMPLATES.items():
            v = row.get(field)
            if v is None or str(v).strip() == "":
                continue
            ids = [e, str(v)] if field == "manager_id" else [e]
            out.append(
                {
                    "id": f"employee_fact:{e}:{field}",
                    "kind": "employee_fact",
                    "messages": _chat(
                        SYSTEM_FACT, rng.choice(questions).format(e=e), answer.format(e=e, v=v)
                    ),
                    "employee_ids": ids,
                }
            )
    return out


def triage_examples(tickets: Sequence[Mapping[str, Any]]) -> list[dict]:
    """``ticket_triage`` examples from masked tickets that have a category and an employee."""
    out = []
    for t in sorted(tickets, key=lambda r: str(r.get("id"))):
        e, category, text = t.get("employee_id"), t.get("category"), t.get("text")
        if not (e and category and isinstance(text, str) and text.strip()):
            continue
        user = "Ticket: " + _shorten(text, MAX_TICKET_CHARS)
        out.append(
            {
                "id": f"ticket_triage:{t.get('id')}",
                "kind": "ticket_triage",
                "messages": _chat(SYSTEM_TRIAGE, user, f"Category: {category}"),
                "employee_ids": [e],
            }
        )
    return out


def build_examples(
    employees_deid: Sequence[Mapping[str, Any]],
    tickets_deid: Sequence[Mapping[str, Any]],
    policies: Mapping[str, str],
    seed: int,
) -> list[dict]:
    """All three kinds of examples, in a seeded shuffled order."""
    rng = random.Random(f"privtune-datasets-{seed}")
    examples = policy_examples(policies, rng) + fact_examples(employees_deid, rng) + triage_examples(tickets_deid)
    rng.shuffle(examples)
    return examples
