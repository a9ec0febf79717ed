"""Declarative example templates: the ``dataset.templates`` section of the pipeline config.

Each kind of example has its own block; every string is a Python format template whose allowed
placeholders are checked when the config loads (a wrong one is a ConfigError naming the key):

* ``policy_qa`` - ``questions`` use ``{title}`` and ``{heading}``; the answer is the section's
  key sentence; ``per_section`` phrasings per policy section;
* ``employee_fact`` - one entry per de-identified column in ``fields``: ``questions`` use
  ``{e}`` (the employee's pseudonym), ``answer`` uses ``{e}`` and ``{v}`` (the value);
  ``value_is_employee: true`` marks a column whose value is another employee's pseudonym
  (``manager_id``), who is then listed in the example's ``employee_ids`` too;
* ``ticket_triage`` - ``user`` uses ``{text}`` (the masked ticket, cut to ``max_chars``),
  ``answer`` uses ``{category}``.

``enabled: false`` leaves a kind out. The defaults are the demo's templates.
"""

from __future__ import annotations

import string
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from privtune.config import StrictModel

SYSTEM_POLICY = "You are an HR assistant. Answer from the company's HR policies."
SYSTEM_FACT = "You are an HR staff assistant. Employees are referred to by pseudonymous tokens."
SYSTEM_TRIAGE = "You are an HR helpdesk assistant. Reply with the ticket's category."


def placeholders(template: str) -> set[str]:
    """Names used by a format template (ValueError when it does not parse)."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def _check(template: str, allowed: set[str], what: str) -> str:
    try:
        used = placeholders(template)
    except ValueError:
        raise ValueError(f"{what} is not a valid template (unbalanced braces)") from None
    bad = used - allowed
    if bad or "" in used:
        raise ValueError(f"{what} may only use the placeholders "
                         + ", ".join("{" + a + "}" for a in sorted(allowed)))
    return template


class PolicyQATemplate(StrictModel):
    ALLOWED: ClassVar[set[str]] = {"title", "heading"}
    enabled: bool = True
    system: str = SYSTEM_POLICY
    questions: list[str] = Field(default_factory=lambda: [
        "What does the {title} say about {heading}?",
        "Under the {title}, what is the rule on {heading}?",
        "Can you summarise the {heading} section of the {title}?",
        "What is company policy on {heading}?",
    ], min_length=1)
    per_section: int = Field(default=2, ge=1)

    @field_validator("questions")
    @classmethod
    def _q(cls, v: list[str]) -> list[str]:
        return [_check(q, cls.ALLOWED, "a policy_qa question") for q in v]


class FactField(StrictModel):
    questions: list[str] = Field(min_length=1)
    answer: str
    value_is_employee: bool = False

    @field_validator("questions")
    @classmethod
    def _q(cls, v: list[str]) -> list[str]:
        return [_check(q, {"e"}, "an employee_fact question") for q in v]

    @field_validator("answer")
    @classmethod
    def _a(cls, v: str) -> str:
        return _check(v, {"e", "v"}, "an employee_fact answer")


def _default_fields() -> dict[str, FactField]:
    return {
        "department": FactField(
            questions=["Which department is {e} in?", "What department does {e} work in?",
                       "{e} belongs to which team?"],
            answer="{e} works in the {v} department."),
        "job_title": FactField(
            questions=["What is {e}'s job title?", "What role does {e} have?",
                       "What position does {e} hold?"],
            answer="{e} is employed as {v}."),
        "manager_id": FactField(
            questions=["Who is {e}'s manager?", "Who does {e} report to?", "Who manages {e}?"],
            answer="{e} reports to {v}.", value_is_employee=True),
        "salary_band": FactField(
            questions=["What is {e}'s salary band?", "Which pay band is {e} in?",
                       "How much does {e} earn, as a band?"],
            answer="{e} is in the {v} salary band."),
        "performance_rating": FactField(
            questions=["What was {e}'s last performance rating?",
                       "How was {e} rated in the last review?"],
            answer="{e} received a performance rating of {v}."),
    }


class EmployeeFactTemplate(StrictModel):
    enabled: bool = True
    system: str = SYSTEM_FACT
    fields: dict[str, FactField] = Field(default_factory=_default_fields)


class TicketTriageTemplate(StrictModel):
    enabled: bool = True
    system: str = SYSTEM_TRIAGE
    user: str = "Ticket: {text}"
    answer: str = "{category}"
    max_chars: int = Field(default=260, ge=20)

    @field_validator("user")
    @classmethod
    def _u(cls, v: str) -> str:
        return _check(v, {"text"}, "ticket_triage.user")

    @field_validator("answer")
    @classmethod
    def _a(cls, v: str) -> str:
        return _check(v, {"category"}, "ticket_triage.answer")


class TemplatesSpec(StrictModel):
    policy_qa: PolicyQATemplate = Field(default_factory=PolicyQATemplate)
    employee_fact: EmployeeFactTemplate = Field(default_factory=EmployeeFactTemplate)
    ticket_triage: TicketTriageTemplate = Field(default_factory=TicketTriageTemplate)

    @model_validator(mode="after")
    def _any(self) -> TemplatesSpec:
        if not (self.policy_qa.enabled or self.employee_fact.enabled or self.ticket_triage.enabled):
            raise ValueError("at least one template kind must be enabled")
        return self
