"""Access anomaly detection over the audit log: per-key baselines, rules, robust z-scores.

A pure function of the events (:func:`detect`), so it runs the same on the workspace's log and
on a synthetic history (tests/ops/test_detect.py, bench/alerts.py). The actor of an event is its
API key id (``-`` events of failed authentications are grouped by the key id they presented).

Rules (each alert names the rule, the key, the window and the figures that tripped it):

* ``denial-burst``: at least ``DENIAL_BURST`` denied events by one key within 10 minutes;
* ``bulk-export``: at least ``BULK_EXPORT`` exports (models out of the vault, subject access
  exports, unaudited exports) by one key within an hour;
* ``new-host``: a key seen from a host (``detail.host``, a keyed hash the guard records) it was
  never seen from, once it has a baseline of ``MIN_HISTORY`` events;
* ``unusual-hour``: activity at least ``ODD_HOURS`` hours away from every hour of the day in
  which the key was active in its baseline (``MIN_HISTORY`` events at least): an evening that
  runs an hour late is not an alert, 03:00 for a nine-to-five key is; one alert per key and hour;
* ``volume-zscore``: per key and hour window, the robust z-score (0.6745 * (x - median) / MAD
  over the key's earlier active windows, at least ``MIN_WINDOWS`` of them) of the number of
  events, distinct objects, distinct employees looked up and denials; an alert when any
  exceeds ``Z_THRESHOLD`` and the value is at least ``Z_MIN_VALUE``.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DENIAL_BURST = 5
DENIAL_WINDOW = timedelta(minutes=10)
BULK_EXPORT = 3
EXPORT_WINDOW = timedelta(hours=1)
EXPORT_OPS = frozenset({"model.export", "model.export_unaudited", "subject.export"})
MIN_HISTORY = 50
ODD_HOURS = 3
MIN_WINDOWS = 12
Z_THRESHOLD = 6.0
Z_MIN_VALUE = 10
FEATURES = ("events", "objects", "subjects", "denials")


@dataclass(frozen=True)
class Event:
    """What the detector reads of one audit event."""

    seq: int
    ts: datetime
    key: str
    op: str
    outcome: str
    object: str = ""
    host: str = ""
    subject: str = ""  # a keyed hash (subject.lookup events), never an id

    @classmethod
    def from_record(cls, r: Any) -> Event:
        d = r.detail_map()
        return cls(seq=r.seq, ts=datetime.fromisoformat(r.ts.replace("Z", "+00:00")),
                   key=r.key_id or r.actor, op=r.op, outcome=r.outcome, object=r.object,
                   host=str(d.get("host", "")), subject=str(d.get("subject", "")))


@dataclass
class Alert:
    rule: str
    key: str
    window_start: datetime
    window_end: datetime
    first_seq: int
    last_seq: int
    score: float
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup(self) -> str:
        return f"{self.rule}:{self.key}:{self.window_start.isoformat()}"


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _hours_away(hour: int, seen: Counter[int]) -> int:
    """Circular distance (hours) from ``hour`` to the nearest hour of day the key was active."""
    return min((min(abs(hour - h), 24 - abs(hour - h)) for h, c in seen.items() if c), default=24)


def robust_z(x: float, history: list[float]) -> tuple[float, float, float]:
    """``(z, median, MAD)``; a zero MAD uses the mean absolute deviation (then 1) instead."""
    med = statistics.median(history)
    mad = statistics.median(abs(h - med) for h in history)
    if mad == 0:
        mad = statistics.fmean(abs(h - med) for h in history) or 1.0
    return 0.6745 * (x - med) / mad, med, mad


class _KeyState:
    def __init__(self) -> None:
        self.n = 0
        self.hosts: set[str] = set()
        self.hours: Counter[int] = Counter()
        self.denials: deque[Event] = deque()
        self.exports: deque[Event] = deque()
        self.windows: dict[str, deque[float]] = {f: deque(maxlen=24 * 14) for f in FEATURES}
        self.cur: datetime | None = None
        self.cur_events: list[Event] = []
        self.last_denial_alert: datetime | None = None
        self.last_export_alert: datetime | None = None
        self.odd_hours: set[datetime] = set()


def detect(events: Iterable[Event]) -> list[Alert]:
    """Every alert the rules and the z-score detector raise over ``events`` (in ``seq`` order);
    each event is judged against the key's history before it (a rolling baseline)."""
    keys: dict[str, _KeyState] = defaultdict(_KeyState)
    alerts: list[Alert] = []
    for e in events:
        st = keys[e.key]
        if st.cur is not None and _hour(e.ts) != st.cur:
            alerts.extend(_close_window(e.key, st))
        if st.cur is None or _hour(e.ts) != st.cur:
            st.cur, st.cur_events = _hour(e.ts), []
        st.cur_events.append(e)
        if e.outcome == "deny":
            st.denials.append(e)
            while st.denials and e.ts - st.denials[0].ts > DENIAL_WINDOW:
                st.denials.popleft()
            if len(st.denials) >= DENIAL_BURST and (
                    st.last_denial_alert is None or e.ts - st.last_denial_alert > DENIAL_WINDOW):
                st.last_denial_alert = e.ts
                alerts.append(Alert("denial-burst", e.key, st.denials[0].ts, e.ts,
                                    st.denials[0].seq, e.seq, float(len(st.denials)),
                                    {"denials": len(st.denials), "threshold": DENIAL_BURST,
                                     "window_minutes": DENIAL_WINDOW.seconds // 60,
                                     "ops": sorted({d.op for d in st.denials})}))
        if e.op in EXPORT_OPS and e.outcome == "allow":
            st.exports.append(e)
            while st.exports and e.ts - st.exports[0].ts > EXPORT_WINDOW:
                st.exports.popleft()
            if len(st.exports) >= BULK_EXPORT and (
                    st.last_export_alert is None or e.ts - st.last_export_alert > EXPORT_WINDOW):
                st.last_export_alert = e.ts
                alerts.append(Alert("bulk-export", e.key, st.exports[0].ts, e.ts,
                                    st.exports[0].seq, e.seq, float(len(st.exports)),
                                    {"exports": len(st.exports), "threshold": BULK_EXPORT,
                                     "objects": sorted({x.object for x in st.exports})[:10]}))
        if st.n >= MIN_HISTORY:
            if e.host and e.host not in st.hosts:
                alerts.append(Alert("new-host", e.key, e.ts, e.ts, e.seq, e.seq, 1.0,
                                    {"host": e.host, "known_hosts": len(st.hosts),
                                     "history_events": st.n}))
            h = e.ts.hour
            if _hours_away(h, st.hours) >= ODD_HOURS and st.cur not in st.odd_hours:
                st.odd_hours.add(st.cur)
                usual = sorted(x for x, c in st.hours.items() if c)
                alerts.append(Alert("unusual-hour", e.key, st.cur, st.cur + timedelta(hours=1),
                                    e.seq, e.seq, 1.0,
                                    {"hour_utc": h, "usual_hours_utc": usual,
                                     "hours_from_usual": _hours_away(h, st.hours),
                                     "history_events": st.n}))
        if e.host:
            st.hosts.add(e.host)
        st.hours[e.ts.hour] += 1
        st.n += 1
    for key, st in keys.items():
        alerts.extend(_close_window(key, st))
    return sorted(alerts, key=lambda a: (a.first_seq, a.rule))


def _close_window(key: str, st: _KeyState) -> list[Alert]:
    evs = st.cur_events
    if not evs or st.cur is None:
        return []
    x = {"events": float(len(evs)), "objects": float(len({e.object for e in evs if e.object})),
         "subjects": float(len({e.subject for e in evs if e.subject})),
         "denials": float(sum(e.outcome == "deny" for e in evs))}
    out: list[Alert] = []
    hist = st.windows
    if len(hist["events"]) >= MIN_WINDOWS:
        scores = {}
        for f in FEATURES:
            z, med, mad = robust_z(x[f], list(hist[f]))
            if z > Z_THRESHOLD and x[f] >= Z_MIN_VALUE:
                scores[f] = {"value": x[f], "median": med, "mad": round(mad, 3), "z": round(z, 1)}
        if scores:
            out.append(Alert("volume-zscore", key, st.cur, st.cur + timedelta(hours=1),
                             evs[0].seq, evs[-1].seq, max(s["z"] for s in scores.values()),
                             {"features": scores, "threshold": Z_THRESHOLD,
                              "baseline_windows": len(hist["events"])}))
    for f in FEATURES:
        hist[f].append(x[f])
    st.cur_events = []
    return out
