"""privtune.datasets: chat-format fine-tuning examples and an employee-level train/val split."""

from privtune.datasets.examples import MAX_TOKENS, approx_tokens, build_examples, example_tokens
from privtune.datasets.policy_sections import PolicySection, parse_policy
from privtune.datasets.split import EmployeeSplit, split_by_employee

__all__ = [
    "MAX_TOKENS",
    "EmployeeSplit",
    "PolicySection",
    "approx_tokens",
    "build_examples",
    "example_tokens",
    "parse_policy",
    "split_by_employee",
]
