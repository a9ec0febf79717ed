"""A synthetic access history with injected misuse, to measure the anomaly detector.

``history(seed, days, users)`` returns the events of ``users`` API keys over ``days`` days of
office work (each key: a role's operations, its own working hours and rate, one or two hosts,
rare single denials, rare legitimate late evenings and new laptops) and the injected incidents,
each with the key and the ``seq`` range of its events. Everything is synthetic: keys, hosts and
subjects are random hex.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from privtune.ops.detect import Event

ROLE_OPS = {
    "data-steward": ["data.read", "data.write", "training.write", "metadata.read", "subject.lookup"],
    "ml-engineer": ["training.read", "model.read", "model.write", "metadata.read"],
    "auditor": ["model.read", "audit.read", "metadata.read", "records.read"],
    "viewer": ["metadata.read"],
    "dpo": ["records.read", "subject.lookup", "audit.read", "metadata.read"],
}


@dataclass
class _Key:
    key: str
    role: str
    begin: int
    end: int
    rate: float
    hosts: list[str]
    objects: list[str]


#: (time, key, op, outcome, object, host, subject)
_Row = tuple[datetime, _Key, str, str, str, str, str]


@dataclass
class Injected:
    kind: str
    key: str
    first_seq: int
    last_seq: int


@dataclass
class History:
    events: list[Event]
    incidents: list[Injected]

    def normal_events(self) -> int:
        bad = {s for i in self.incidents for s in range(i.first_seq, i.last_seq + 1)}
        return sum(e.seq not in bad for e in self.events)


def _hex(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def history(seed: int = 7, days: int = 42, users: int = 24) -> History:
    rng = random.Random(seed)
    start = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
    keys: list[_Key] = []
    for _ in range(users):
        role = rng.choice(list(ROLE_OPS))
        begin = rng.randint(6, 10)
        names = ["employees", "tickets", "trainset", "adapter", "reviews"]
        keys.append(_Key(key=_hex(rng), role=role, begin=begin, end=begin + rng.randint(7, 9),
                         rate=rng.uniform(3, 14),
                         hosts=[_hex(rng)] + ([_hex(rng)] if rng.random() < .4 else []),
                         objects=[f"{rng.choice(names)}@{rng.randint(1, 9)}" for _ in range(12)]))
    raw: list[_Row] = []
    for day in range(days):
        date = start + timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for k in keys:
            if rng.random() < 0.1:
                continue  # a day off
            end = k.end + (2 if rng.random() < 0.03 else 0)  # a rare late evening
            if rng.random() < 0.004:
                k.hosts.append(_hex(rng))  # a rare new laptop, legitimately
            for hour in range(k.begin, end):
                for _ in range(_poisson(rng, k.rate)):
                    ts = date + timedelta(hours=hour, seconds=rng.randint(0, 3599))
                    op = rng.choice(ROLE_OPS[k.role])
                    if k.role == "ml-engineer" and rng.random() < 0.01:
                        op = "model.export"
                    outcome = "deny" if rng.random() < 0.01 else "allow"
                    subject = _hex(rng, 16) if op == "subject.lookup" else ""
                    host = k.hosts[-1] if rng.random() < 0.5 else rng.choice(k.hosts)
                    raw.append((ts, k, op, outcome, rng.choice(k.objects), host, subject))
    # ---- the injected misuse (days 30-40, so every key has its baseline)
    bad: list[tuple[str, list[_Row]]] = []

    def pick(role: str | None = None) -> _Key:
        pool = [k for k in keys if role is None or k.role == role] or keys
        return rng.choice(pool)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        d = start + timedelta(days=day)
        while d.weekday() >= 5:
            d += timedelta(days=1)
        return d + timedelta(hours=hour, minutes=minute)

    k = pick("viewer")
    t = at(30, k.begin + 2, 10)
    bad.append(("denial-burst", [(t + timedelta(seconds=20 * i), k, op, "deny", "employees@1",
                                  k.hosts[0], "") for i, op in
                                 enumerate(["data.read", "key.read", "user.manage", "data.read",
                                            "model.export", "training.read", "data.read"])]))
    k = pick("ml-engineer")
    t = at(32, k.begin + 3, 5)
    bad.append(("bulk-export", [(t + timedelta(minutes=6 * i), k, "model.export", "allow",
                                 f"adapter@{i + 1}", k.hosts[0], "") for i in range(5)]))
    k = pick()
    t = at(34, k.begin + 1, 30)
    stranger = _hex(rng)
    bad.append(("new-host", [(t + timedelta(minutes=i), k, ROLE_OPS[k.role][0], "allow",
                              k.objects[0], stranger, "") for i in range(3)]))
    k = pick()
    t = at(36, 3, 12)
    bad.append(("unusual-hour", [(t + timedelta(minutes=2 * i), k, ROLE_OPS[k.role][0], "allow",
                                  k.objects[i % 5], k.hosts[0], "") for i in range(4)]))
    k = pick("data-steward")
    t = at(38, k.begin + 2)
    bad.append(("subject-sweep", [(t + timedelta(seconds=15 * i), k, "subject.lookup", "allow", "",
                                   k.hosts[0], _hex(rng, 16)) for i in range(150)]))
    k = pick("dpo")
    t = at(40, 1, 40)
    thief = _hex(rng)
    bad.append(("stolen-key", [(t + timedelta(seconds=30 * i), k, "subject.export", "allow",
                                f"employees@{i % 3 + 1}", thief, "") for i in range(6)]))
    tagged: list[tuple[_Row, str | None]] = [(r, None) for r in raw]
    tagged += [(r, kind) for kind, rows in bad for r in rows]
    tagged.sort(key=lambda x: x[0][0])
    events: list[Event] = []
    spans: dict[str, list[int]] = {}
    owner: dict[str, str] = {}
    for seq, ((ts, k, op, outcome, obj, host, subject), kind) in enumerate(tagged, start=1):
        events.append(Event(seq=seq, ts=ts, key=k.key, op=op, outcome=outcome, object=obj,
                            host=host, subject=subject))
        if kind is not None:
            spans.setdefault(kind, []).append(seq)
            owner[kind] = k.key
    incidents = [Injected(kind, owner[kind], min(s), max(s)) for kind, s in spans.items()]
    return History(events, incidents)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; lam is small here.
    import math

    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
