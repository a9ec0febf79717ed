"""The serving policy (YAML): input screening, and per role which models a key may query and
whether pseudonym tokens may be shown.

```yaml
screening:
  injection:     {action: refuse, patterns: ["ignore (all )?(the )?previous instructions", ...]}
  exfiltration:  {action: refuse, patterns: ["list (all|every) employees", ...]}
  named_person: refuse          # a request naming a roster person, or holding a pseudonym
roles:
  app:     {models: ["helpdesk"], show_pseudonyms: false}
  auditor: {models: ["*"], show_pseudonyms: true}
```

* ``screening``: every request's text (all messages, or the prompt) is checked before the model
  runs. ``action: refuse`` answers 400 (code ``content_refused``) and audits a deny whose reason
  names the rule (``injection``, ``exfiltration``, ``named_person``), never the text;
  ``flag`` lets the request run and records ``flagged`` in its audit event; ``off`` skips the
  rule. Patterns are Python regular expressions, matched case-insensitively. A request naming a
  person of the workspace roster (the detector finds a span with a roster ``subject``) or
  holding a pseudonym token (``EMP-`` + 10 hex) asks for a named person's data: refused by
  default.
* ``roles``: a role not listed may query every model (when its role holds ``model.query``) and
  never sees pseudonym tokens. ``models`` are model names or refs, ``*`` globs allowed; a model
  outside them is refused (403, ``model_not_allowed``) and not listed in ``/v1/models``.
  ``show_pseudonyms: true`` leaves ``EMP-...`` tokens in that role's answers (they are not
  re-identification: only the vault maps them back); names, e-mails, ids, SSNs are masked for
  every role.

A policy that does not parse, names an unknown action or holds a bad pattern is an InputError
naming the file and field; the server does not start on it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.errors import InputError
from privtune.pii.detector import Detector
from privtune.serve.redact import PSEUDONYM_RE

ACTIONS = ("refuse", "flag", "off")

DEFAULT_INJECTION = (
    r"\bignore\s+(all\s+|any\s+)?(the\s+|your\s+)?(previous|prior|above|earlier)\s+"
    r"(instructions|rules|prompts?)",
    r"\b(disregard|forget)\s+(all\s+|your\s+)?(previous|prior|earlier)?\s*(instructions|rules)",
    r"\b(reveal|print|show|repeat)\s+(me\s+)?(your|the)\s+(system\s+prompt|instructions)",
    r"\byou\s+are\s+now\s+(in\s+)?(developer|dan|jailbreak|unrestricted)",
    r"\bjailbreak\b",
)
DEFAULT_EXFILTRATION = (
    r"\b(list|name|give\s+me|show\s+me|print)\s+(all|every|each)\s+(of\s+the\s+)?"
    r"(employees?|staff|people|workers|colleagues|names)",
    r"\b(dump|export|print|output|reveal)\s+(the\s+|your\s+)?(training\s+(data|set|examples)|"
    r"dataset|roster|database|records)",
    r"\b(repeat|recite)\s+(the\s+|your\s+)?training\b",
    r"\b(social\s+security|ssn|home\s+address|salary|salaries|date\s+of\s+birth|medical|"
    r"diagnosis)\s+(number\s+)?(of|for)\s+\w+",
    r"\bwho\s+(earns|makes)\s+the\s+most\b",
)


@dataclass(frozen=True)
class Rule:
    action: str
    patterns: tuple[re.Pattern[str], ...] = ()

    def hit(self, text: str) -> bool:
        return self.action != "off" and any(p.search(text) for p in self.patterns)


@dataclass(frozen=True)
class RolePolicy:
    models: tuple[str, ...] = ("*",)
    show_pseudonyms: bool = False

    def may_query(self, served_id: str) -> bool:
        name = served_id.split("@")[0]
        return any(fnmatch.fnmatchcase(served_id, m) or fnmatch.fnmatchcase(name, m)
                   for m in self.models)


@dataclass(frozen=True)
class Screened:
    """The outcome of screening one request: ``refused`` (the rule) or flags to audit."""

    refused: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServePolicy:
    injection: Rule = field(default_factory=lambda: Rule("refuse", _compile(DEFAULT_INJECTION, "")))
    exfiltration: Rule = field(default_factory=lambda: Rule("refuse",
                                                            _compile(DEFAULT_EXFILTRATION, "")))
    named_person: str = "refuse"
    roles: dict[str, RolePolicy] = field(default_factory=dict)

    def role(self, role: str) -> RolePolicy:
        return self.roles.get(role, RolePolicy())

    def screen(self, text: str, detector: Detector) -> Screened:
        flags: list[str] = []
        for name, rule in (("injection", self.injection), ("exfiltration", self.exfiltration)):
            if rule.hit(text):
                if rule.action == "refuse":
                    return Screened(name)
                flags.append(name)
        if self.named_person != "off" and (PSEUDONYM_RE.search(text) or any(
                s.subject for s in detector.detect(text))):
            if self.named_person == "refuse":
                return Screened("named_person")
            flags.append("named_person")
        return Screened(None, tuple(flags))


def _compile(patterns: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise InputError("patterns must be a list of strings", field=where)
    out = []
    for i, p in enumerate(patterns):
        try:
            out.append(re.compile(p, re.IGNORECASE))
        except re.error as exc:
            raise InputError(f"pattern {i} is not a valid regular expression ({exc.msg})",
                             field=where) from None
    return tuple(out)


def _rule(d: Any, name: str, default: tuple[str, ...], path: Path) -> Rule:
    if d is None:
        return Rule("refuse", _compile(default, name))
    if not isinstance(d, dict) or not set(d) <= {"action", "patterns"}:
        raise InputError(f"screening.{name} must map action/patterns", path=path,
                         field=f"screening.{name}")
    action = d.get("action", "refuse")
    if action not in ACTIONS:
        raise InputError(f"action must be one of {', '.join(ACTIONS)}", path=path,
                         field=f"screening.{name}.action")
    try:
        pats = _compile(d.get("patterns", list(default)), f"screening.{name}.patterns")
    except InputError as exc:
        raise InputError(exc.message, path=path, field=f"screening.{name}.patterns") from None
    return Rule(action, pats)


def load_policy(path: Path) -> ServePolicy:
    """The policy in the YAML file ``path`` (every key optional; defaults above)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        raise InputError("the serving policy cannot be read", path=path) from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise InputError("the serving policy is not valid YAML", path=path) from None
    if not isinstance(data, dict) or not set(data) <= {"screening", "roles"}:
        raise InputError("the serving policy has only 'screening' and 'roles'", path=path)
    scr = data.get("screening") or {}
    if not isinstance(scr, dict) or not set(scr) <= {"injection", "exfiltration", "named_person"}:
        raise InputError("screening has only injection, exfiltration and named_person",
                         path=path, field="screening")
    named = scr.get("named_person", "refuse")
    if named not in ACTIONS:
        raise InputError(f"named_person must be one of {', '.join(ACTIONS)}", path=path,
                         field="screening.named_person")
    roles: dict[str, RolePolicy] = {}
    raw_roles = data.get("roles") or {}
    if not isinstance(raw_roles, dict):
        raise InputError("roles must map a role to its policy", path=path, field="roles")
    from privtune.access.roles import ROLES

    for role, rp in raw_roles.items():
        if role not in ROLES:
            raise InputError(f"unknown role '{str(role)[:40]}'", path=path, field="roles")
        if not isinstance(rp, dict) or not set(rp) <= {"models", "show_pseudonyms"}:
            raise InputError("a role's policy has only models and show_pseudonyms", path=path,
                             field=f"roles.{role}")
        models = rp.get("models", ["*"])
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise InputError("models must be a list of model names", path=path,
                             field=f"roles.{role}.models")
        show = rp.get("show_pseudonyms", False)
        if not isinstance(show, bool):
            raise InputError("show_pseudonyms must be true or false", path=path,
                             field=f"roles.{role}.show_pseudonyms")
        roles[role] = RolePolicy(tuple(models), show)
    return ServePolicy(_rule(scr.get("injection"), "injection", DEFAULT_INJECTION, path),
                       _rule(scr.get("exfiltration"), "exfiltration", DEFAULT_EXFILTRATION, path),
                       named, roles)
