"""Canaries drawn from the recipe's own templates, for exposure and the one-run epsilon audit.

At dataset build time :func:`plant_canaries` looks at what the recipe trains (the kinds of the
training examples and, for ``employee_fact``, which fields) and makes ``spec.candidates``
candidate canaries, each a fictitious person with a fresh ``EMP-`` token (the pipeline's token
shape) and its own privacy unit (``CANARY-nnn`` in ``employee_ids``):

* a **canary fact** (when facts are trained): a question of that field's template about the
  fictitious token, answered with that field's answer template; the secret is a value drawn
  uniformly from the values the recipe's data holds for the field (a fresh ``EMP-`` token for a
  field whose value is an employee, ``manager_id``);
* a **canary ticket** (when tickets are trained): the triage template around a text of words
  drawn from the recipe's own ticket texts (lower-case words only: no names, no numbers), the
  secret a category drawn uniformly from the recipe's categories.

No SSN questions, no natural names: a canary looks like the examples it hides among. Each
candidate is **included with probability 1/2**, drawn with the operating system's CSPRNG
(``secrets``), independently (Steinke, Nasr and Jagielski 2023, "Privacy auditing with one (1)
training run"); only included candidates are planted, each ``repetitions`` times (the counts of
``spec.repetitions``, cycled over the candidates). The number of candidates is capped so that
the expected included ones are at most ``max_unit_fraction`` of the training units. Every
candidate (included or not, its secret, its space) is stored only in the vault
(``canaries@N``); the dataset's manifest names that object.
"""

from __future__ import annotations

import json
import random
import re
import secrets as _secrets
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field, field_validator

from privtune.config import StrictModel
from privtune.datasets.templates import TemplatesSpec
from privtune.errors import IntegrityError

CANARY_PREFIX = "CANARY-"
CANARY_KIND = "canary"
VAULT_NAME = "canaries"
SCHEMA = "privtune-canaries-v2"
#: The shape of a pipeline pseudonym (``EMP-`` + 10 hex digits, privtune.deid).
TOKEN_PREFIX = "EMP-"  # noqa: S105 (a pseudonym prefix, not a secret)
TOKEN_HEX = 10
TOKEN_SPACE = 16 ** TOKEN_HEX
FACT, TRIAGE = "employee_fact", "ticket_triage"
TICKET_WORDS = 24
_WORD = re.compile(r"^[a-z]{3,14}$")


class CanarySpec(StrictModel):
    """``dataset.canaries``: how many candidate canaries, how often an included one repeats."""

    enabled: bool = True
    candidates: int = Field(100, ge=2, le=100_000, description="candidate canaries; each is "
                            "included with probability 1/2 (one-run audit)")
    repetitions: list[int] = Field(default_factory=lambda: [1, 4, 16],
                                   description="repetition counts, cycled over the candidates")
    max_unit_fraction: float = Field(0.1, gt=0, le=0.5, description="expected included "
                                     "canaries at most this fraction of the training units")
    seed: int | None = Field(None, description="tests only: a seeded draw (inclusion, "
                             "secrets); None = the OS CSPRNG")

    @field_validator("repetitions")
    @classmethod
    def _reps(cls, v: list[int]) -> list[int]:
        if not v or any(r < 1 or r > 1000 for r in v):
            raise ValueError("repetitions must be a non-empty list of counts in 1..1000")
        return v


@dataclass(frozen=True)
class Canary:
    id: str                   # CANARY-nnn: the canary's own privacy unit
    kind: str                 # employee_fact | ticket_triage
    field: str                # the fact's field, or "category"
    token: str                # the fictitious person's EMP- token
    system: str
    user: str
    prefix: str               # the answer before the secret
    secret: str
    suffix: str               # the answer after the secret
    space: list[str] | None   # the candidate secrets (None: the EMP- token space)
    repetitions: int
    included: bool

    @property
    def name(self) -> str:
        return self.token

    def prompt(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    def answer(self, secret: str | None = None) -> str:
        return self.prefix + (self.secret if secret is None else secret) + self.suffix

    def example(self) -> dict[str, Any]:
        return {"messages": self.prompt() + [{"role": "assistant", "content": self.answer()}]}

    @property
    def space_size(self) -> int:
        return TOKEN_SPACE if self.space is None else len(self.space)


def random_token(rng: random.Random) -> str:
    return TOKEN_PREFIX + "".join(rng.choice("0123456789abcdef") for _ in range(TOKEN_HEX))


def token_from_index(i: int) -> str:
    return f"{TOKEN_PREFIX}{i:0{TOKEN_HEX}x}"


@dataclass
class Pools:
    """What the recipe trains, and the values its canaries draw from."""

    fact_fields: dict[str, list[str]]      # trained field -> value space ([] = EMP- tokens)
    categories: list[str]
    words: list[str]

    @property
    def kinds(self) -> list[str]:
        return ([FACT] if self.fact_fields else []) + ([TRIAGE] if self.categories and self.words else [])


def recipe_pools(train: list[dict[str, Any]], employees: list[dict[str, Any]],
                 tickets: list[dict[str, Any]], templates: TemplatesSpec) -> Pools:
    """The kinds and fields the training examples hold, with the de-identified data's values."""
    fields: dict[str, list[str]] = {}
    trained = {str(ex.get("id", "")).split(":")[-1] for ex in train if ex.get("kind") == FACT}
    for name, f in templates.employee_fact.fields.items():
        if name not in trained:
            continue
        if f.value_is_employee:
            fields[name] = []
        else:
            vals = sorted({str(r[name]) for r in employees
                           if r.get(name) is not None and str(r[name]).strip()})
            if len(vals) >= 2:
                fields[name] = vals
    cats: list[str] = []
    words: list[str] = []
    if any(ex.get("kind") == TRIAGE for ex in train):
        cats = sorted({str(t["category"]) for t in tickets if t.get("category")})
        vocab = {w for ex in train if ex.get("kind") == TRIAGE
                 for w in ex["messages"][1]["content"].split() if _WORD.match(w)}
        words = sorted(vocab)
    return Pools(fields, cats if len(cats) >= 2 else [], words)


def make_canaries(spec: CanarySpec, pools: Pools, templates: TemplatesSpec, n: int,
                  seed: int | None = None) -> list[Canary]:
    """``n`` candidate canaries over the recipe's kinds (cycled), each included with
    probability 1/2; ``seed`` (tests only) makes the draw reproducible."""
    if not pools.kinds:
        return []
    rng: random.Random = random.Random(seed) if seed is not None else _secrets.SystemRandom()
    fact_fields = sorted(pools.fact_fields)
    out: list[Canary] = []
    tokens: set[str] = set()
    for i in range(n):
        kind = pools.kinds[i % len(pools.kinds)]
        token = random_token(rng)
        while token in tokens:
            token = random_token(rng)
        tokens.add(token)
        reps = spec.repetitions[(i // len(pools.kinds)) % len(spec.repetitions)]
        if kind == FACT:
            field = fact_fields[(i // len(pools.kinds)) % len(fact_fields)]
            tpl = templates.employee_fact.fields[field]
            space = pools.fact_fields[field] or None
            secret = random_token(rng) if space is None else rng.choice(space)
            marker = "\x00"
            before, after = tpl.answer.format(e=token, v=marker).split(marker, 1)
            out.append(Canary(f"{CANARY_PREFIX}{i:03d}", FACT, field, token,
                              templates.employee_fact.system,
                              rng.choice(tpl.questions).format(e=token), before, secret, after,
                              space, reps, bool(rng.getrandbits(1))))
        else:
            t = templates.ticket_triage
            text = " ".join(rng.choice(pools.words) for _ in range(TICKET_WORDS))
            marker = "\x00"
            before, after = t.answer.format(category=marker).split(marker, 1)
            out.append(Canary(f"{CANARY_PREFIX}{i:03d}", TRIAGE, "category", token, t.system,
                              t.user.format(text=text), before, rng.choice(pools.categories),
                              after, list(pools.categories), reps, bool(rng.getrandbits(1))))
    return out


def candidate_count(spec: CanarySpec, units: int) -> int:
    """Candidates to draw: ``spec.candidates``, capped so that the expected included ones
    (half) are at most ``max_unit_fraction`` of ``units`` training units."""
    cap = int(2 * spec.max_unit_fraction * units)
    return max(0, min(spec.candidates, cap))


def canary_examples(canaries: list[Canary]) -> list[dict[str, Any]]:
    """The chat examples of the *included* canaries, each repeated ``repetitions`` times."""
    out = []
    for c in canaries:
        if not c.included:
            continue
        messages = c.example()["messages"]
        for k in range(c.repetitions):
            out.append({"id": f"{CANARY_KIND}:{c.id}:{k}", "kind": CANARY_KIND,
                        "messages": [dict(m) for m in messages], "employee_ids": [c.id],
                        "mentions": []})
    return out


def plant_canaries(train: list[dict[str, Any]], spec: CanarySpec, pools: Pools,
                   templates: TemplatesSpec, units: int
                   ) -> tuple[list[dict[str, Any]], list[Canary]]:
    """``(train + included canary examples shuffled in, all candidates)``; ``train`` itself is
    not modified."""
    canaries = make_canaries(spec, pools, templates, candidate_count(spec, units), spec.seed)
    rows = list(train) + canary_examples(canaries)
    (random.Random(spec.seed ^ 0x5EED) if spec.seed is not None
     else _secrets.SystemRandom()).shuffle(rows)
    return rows, canaries


def canaries_bytes(canaries: list[Canary], spec: CanarySpec) -> bytes:
    return json.dumps({"spec": spec.model_dump(mode="json"),
                       "canaries": [asdict(c) for c in canaries]}, indent=1).encode()


def load_canaries(data: bytes) -> tuple[list[Canary], CanarySpec]:
    try:
        obj = json.loads(data)
        spec = CanarySpec.model_validate(obj["spec"])
        return [Canary(**c) for c in obj["canaries"]], spec
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the canaries object is not readable ({type(exc).__name__})") from None


def is_canary(employee_id: str) -> bool:
    return str(employee_id).startswith(CANARY_PREFIX)
