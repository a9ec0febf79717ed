"""Build chat-format fine-tuning examples from de-identified HR data and policies.

Three kinds, each a dict ``{"id", "kind", "messages", "employee_ids"}`` with a system, a user and
an assistant message:

* ``policy_qa``: a question about a policy section -> the section's key sentence;
  ``employee_ids`` is empty;
* ``employee_fact``: an HR staff assistant answers a question about a pseudonymised employee
  (department, job title, manager, salary band, performance rating) in one of several
  phrasings; ``employee_ids`` is ``[token]``, or ``[token, manager token]`` when the answer
  names the manager;
* ``ticket_triage``: a masked ticket text -> its category; ``employee_ids`` is ``[token]``
  (the author) and ``mentions`` lists the third parties (colleagues, the manager, relatives) the
  text still names in a linkable form. With ``third_parties="placeholder"`` (the default) each
  such mention is replaced by :data:`PLACEHOLDER_EMPLOYEE` / :data:`PLACEHOLDER_PERSON` (the
  same text for everyone, so nothing links two units) and ``mentions`` is empty; with
  ``"surrogate"`` the de-identified text's consistent surrogate stays and the person counts
  towards the group size of person-level DP accounting (:mod:`privtune.dp.units`).

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
#: The key under which a de-identified text record lists its linkable third-party mentions
#: (written by :mod:`privtune.deid.engine` as ``MENTIONS_KEY``; a test checks they agree).
MENTIONS_KEY = "_mentions"
#: Non-linkable placeholders for a third party named in a text (an employee / anyone else).
PLACEHOLDER_EMPLOYEE = "[COLLEAGUE]"
PLACEHOLDER_PERSON = "[PERSON]"
THIRD_PARTIES = ("placeholder", "surrogate")
#: Every kind of example (task), in build order.
KINDS = ("policy_qa", "employee_fact", "ticket_triage")
#: Population-level tasks: what a differentially private model should learn (how to triage a
#: ticket, what a policy says). ``employee_fact`` (EMP-x -> salary band, rating, manager) is a
#: per-employee fact: the non-private memorising baseline and the audit's attribute-inference
#: probe use it; the DP recipe leaves it out (``dataset.tasks``).
POPULATION_KINDS = ("ticket_triage", "policy_qa")

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


def third_party_text(record: Mapping[str, Any], field: str, mode: str) -> tuple[str, list[str]]:
    """The record's ``field`` text and the tokens of the third parties it still names:
    ``placeholder`` replaces every recorded mention by a placeholder (no one is left),
    ``surrogate`` keeps the text and lists the mentioned persons (sorted, unique)."""
    if mode not in THIRD_PARTIES:
        raise ValueError(f"third_parties must be one of {', '.join(THIRD_PARTIES)}")
    text = str(record.get(field))
    found = [m for m in record.get(MENTIONS_KEY) or () if m.get("field") == field]
    if mode == "surrogate":
        return text, sorted({str(m["person"]) for m in found})
    for m in sorted(found, key=lambda m: int(m["start"]), reverse=True):
        start, end = int(m["start"]), int(m["end"])
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"record '{record.get('id')}': a mention span lies outside "
                             f"its '{field}' text")
        word = PLACEHOLDER_EMPLOYEE if m.get("employee") else PLACEHOLDER_PERSON
        text = text[:start] + word + text[end:]
    return text, []


def triage_examples(tickets: Sequence[Mapping[str, Any]],
                    template: _T.TicketTriageTemplate | None = None,
                    third_parties: str = "placeholder") -> list[dict]:
    """``ticket_triage`` examples from masked tickets that have a category and an employee."""
    tpl = template or _T.TicketTriageTemplate()
    out = []
    for t in sorted(tickets, key=lambda r: str(r.get("id"))):
        e, category, text = t.get("employee_id"), t.get("category"), t.get("text")
        if not (e and category and isinstance(text, str) and text.strip()):
            continue
        text, mentions = third_party_text(t, "text", third_parties)
        user = tpl.user.format(text=_shorten(text, tpl.max_chars))
        out.append(
            {
                "id": f"ticket_triage:{t.get('id')}",
                "kind": "ticket_triage",
                "messages": _chat(tpl.system, user, tpl.answer.format(category=category)),
                "employee_ids": [e],
                "mentions": [m for m in mentions if m != e],
            }
        )
    return out


def build_examples(
    employees_deid: Sequence[Mapping[str, Any]],
    tickets_deid: Sequence[Mapping[str, Any]],
    policies: Mapping[str, str],
    seed: int,
    templates: TemplatesSpec | None = None,
    third_parties: str = "placeholder",
    tasks: Sequence[str] | None = None,
) -> list[dict]:
    """The enabled kinds of examples (all three by default), in a seeded shuffled order;
    ``tasks`` (kinds of :data:`KINDS`) keeps only those kinds (``None``: every enabled one);
    ``third_parties`` as in :func:`third_party_text`. A kind's examples do not depend on which
    other kinds are built."""
    t = templates or TemplatesSpec()
    wanted = set(KINDS if tasks is None else tasks)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
    rng = random.Random(f"privtune-datasets-{seed}")
    examples: list[dict] = []
    # each kind draws from its own stream, so leaving one kind out changes no other kind
    if t.policy_qa.enabled and "policy_qa" in wanted:
        examples += policy_examples(policies, random.Random(f"privtune-datasets-{seed}-policy_qa"),
                                    template=t.policy_qa)
    if t.employee_fact.enabled and "employee_fact" in wanted:
        examples += fact_examples(employees_deid, random.Random(f"privtune-datasets-{seed}-employee_fact"),
                                  t.employee_fact)
    if t.ticket_triage.enabled and "ticket_triage" in wanted:
        examples += triage_examples(tickets_deid, t.ticket_triage, third_parties)
    rng.shuffle(examples)
    return examples
