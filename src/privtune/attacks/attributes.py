"""Attribute inference on real employees: does the model tell a member's salary band, rating,
manager or department better than it tells a held-out employee's, or than the base rate?

The recipe's own ``employee_fact`` examples are the probes: for each (employee, field) the
attacker asks the example's own question and ranks every value the field takes in the data by
the model's likelihood of the answer holding it (the answer's template is read off the
examples: the common prefix and suffix of that field's answers, with the employee's token put
back). The guess is the most likely value. Per side (members: training employees; non-members:
held-out employees, whose facts the model never saw) the accuracy is pooled over fields; the
base rate is the accuracy of always guessing the field's most common value. The gate metric is
the **advantage** ``acc(members) - max(acc(non-members), base rate)``: what the model knows
about the people it was trained on beyond what it could know about anyone.

Fields with more than :data:`MAX_VALUES` distinct values, or with one, are left out. Nothing
but counts and accuracies leaves the function.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FACT = "employee_fact"
MAX_VALUES = 64
MARK = "\x00E\x00"


def common_prefix(texts: list[str]) -> str:
    """The longest string every one of ``texts`` starts with."""
    if not texts:
        return ""
    lo, hi = min(texts), max(texts)      # the lexicographic extremes bound every other text
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


def _field(ex: dict[str, Any]) -> str | None:
    parts = str(ex.get("id", "")).split(":")
    return parts[-1] if ex.get("kind") == FACT and len(parts) >= 3 else None


@dataclass
class FactProbe:
    employee: str
    field: str
    messages: list[dict[str, str]]     # system + user
    prefix: str                         # answer before the value (token in place)
    value: str
    suffix: str


def fact_probes(examples: Iterable[dict[str, Any]]) -> tuple[list[FactProbe], dict[str, list[str]]]:
    """One probe per (employee, field) of the ``employee_fact`` examples, and each field's
    value space. The answer template is the common prefix/suffix of the field's answers with
    the employee's token abstracted."""
    by_field: dict[str, list[tuple[str, dict[str, Any], str]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for ex in examples:
        f = _field(ex)
        ids = ex.get("employee_ids") or []
        if f is None or not ids:
            continue
        e = str(ids[0])
        if (e, f) in seen:
            continue
        seen.add((e, f))
        by_field[f].append((e, ex, ex["messages"][-1]["content"].replace(e, MARK)))
    probes: list[FactProbe] = []
    spaces: dict[str, list[str]] = {}
    for f, rows in by_field.items():
        answers = [a for _, _, a in rows]
        pre = common_prefix(answers)
        suf = common_prefix([a[::-1] for a in answers])[::-1]
        # values are whole words: cut the affixes back to a word boundary ("B1"/"B2" share "B")
        while pre and pre[-1].isalnum():
            pre = pre[:-1]
        while suf and suf[0].isalnum():
            suf = suf[1:]
        # a value must keep at least one character: shrink the affixes where they overlap
        shortest = min(len(a) for a in answers)
        while len(pre) + len(suf) >= shortest and suf:
            suf = suf[1:]
        while len(pre) + len(suf) >= shortest and pre:
            pre = pre[:-1]
        values = {a[len(pre):len(a) - len(suf)] for a in answers}
        if not 2 <= len(values) <= MAX_VALUES:
            continue
        spaces[f] = sorted(values)
        for e, ex, a in rows:
            probes.append(FactProbe(e, f, [dict(m) for m in ex["messages"][:-1]],
                                    pre.replace(MARK, e), a[len(pre):len(a) - len(suf)],
                                    suf.replace(MARK, e)))
    return probes, spaces


@dataclass
class AttributeResult:
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: int = 0
    non_members: int = 0
    acc_members: float | None = None
    acc_non_members: float | None = None
    base_rate: float | None = None

    @property
    def advantage(self) -> float | None:
        if self.acc_members is None:
            return None
        ref = max(x for x in (self.acc_non_members, self.base_rate) if x is not None) \
            if (self.acc_non_members is not None or self.base_rate is not None) else 0.0
        return self.acc_members - ref

    def as_dict(self) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731
        return {"fields": self.fields, "members": self.members, "non_members": self.non_members,
                "accuracy_members": r(self.acc_members),
                "accuracy_non_members": r(self.acc_non_members), "base_rate": r(self.base_rate),
                "advantage": r(self.advantage)}


def attribute_inference(model: Any, tokenizer: Any, probes: list[FactProbe],
                        spaces: dict[str, list[str]], members: set[str], non_members: set[str],
                        *, max_seq_len: int = 256, batch_size: int = 64) -> AttributeResult:
    """Guess each probe's value by likelihood; accuracy per side and field, and the base rate."""
    from privtune.attacks.scoring import score_encoded
    from privtune.train.data import encode_example

    probes = [p for p in probes if p.employee in members or p.employee in non_members]
    encoded: list[Any] = []
    owner: list[tuple[int, str]] = []
    for i, p in enumerate(probes):
        for v in spaces[p.field]:
            msgs = p.messages + [{"role": "assistant", "content": p.prefix + v + p.suffix}]
            encoded.append(encode_example(tokenizer, {"messages": msgs}, max_seq_len, len(encoded)))
            owner.append((i, v))
    nll = score_encoded(model, encoded, tokenizer.pad_token_id, batch_size).nll if encoded else []
    best: dict[int, tuple[float, str]] = {}
    for (i, v), x in zip(owner, nll):
        if i not in best or x < best[i][0]:
            best[i] = (x, v)
    res = AttributeResult()
    hits: dict[tuple[str, str], list[int]] = defaultdict(list)   # (side, field) -> 0/1
    for i, p in enumerate(probes):
        side = "in" if p.employee in members else "out"
        hits[(side, p.field)].append(int(best[i][1] == p.value))
    base_hits, base_n = 0, 0
    for f in sorted(spaces):
        truth = [p.value for p in probes if p.field == f]
        if not truth:
            continue
        top = Counter(truth).most_common(1)[0][1]
        base_hits += top
        base_n += len(truth)
        fi, fo = hits.get(("in", f), []), hits.get(("out", f), [])
        res.fields[f] = {"values": len(spaces[f]), "members": len(fi), "non_members": len(fo),
                         "accuracy_members": round(sum(fi) / len(fi), 4) if fi else None,
                         "accuracy_non_members": round(sum(fo) / len(fo), 4) if fo else None,
                         "base_rate": round(top / len(truth), 4)}
    all_in = [h for (s, _), v in hits.items() if s == "in" for h in v]
    all_out = [h for (s, _), v in hits.items() if s == "out" for h in v]
    res.members = len({p.employee for p in probes if p.employee in members})
    res.non_members = len({p.employee for p in probes if p.employee in non_members})
    res.acc_members = sum(all_in) / len(all_in) if all_in else None
    res.acc_non_members = sum(all_out) / len(all_out) if all_out else None
    res.base_rate = base_hits / base_n if base_n else None
    return res
