"""Training-data integrity before training (OWASP LLM04, data and model poisoning).

* **Manifest**: at build time the training set's manifest records ``integrity``: the number of
  examples and a digest over their canonical hashes (:func:`manifest`); at train time
  :func:`check_manifest` recomputes it from the examples read (the vault has already checked the
  object's SHA-256 against its row-MAC'd manifest): a mismatch is an IntegrityError.
* **Scan** (:func:`scan`): exact duplicates (normalised text), near-duplicates (Jaccard of word
  3-gram shingles >= 0.8, MinHash candidates), outliers (robust z-score of the length per kind
  above 6), label flips (``ticket_triage``: a naive Bayes model of the category from the ticket
  text, leave-one-out, that gives another label with posterior >= 0.95) and **planted
  triggers**: a word 2-4-gram found in at least 3 and at most max(10, 5 %) of the triage examples, all
  of one label, whose examples' own text (without the phrase) predicts another label for most
  of them: a handful of tickets taught to answer one way whenever the phrase appears.

The report names example ids, counts and hashes of phrases, never text (``IntegrityReport``):
it goes into the training run's figures and summary.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from privtune.errors import IntegrityError

META_KEY = "integrity"
NEAR_JACCARD = 0.8
OUTLIER_Z = 6.0
FLIP_POSTERIOR = 0.95
TRIGGER_MIN = 3
TRIGGER_MAX_SHARE = 0.05
TRIGGER_CAP_MIN = 10
TRIGGER_DISAGREE = 0.6
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


def _user(ex: dict[str, Any]) -> str:
    return " ".join(m["content"] for m in ex.get("messages", []) if m.get("role") == "user")


def _answer(ex: dict[str, Any]) -> str:
    return " ".join(m["content"] for m in ex.get("messages", []) if m.get("role") == "assistant")


def example_hash(ex: dict[str, Any]) -> str:
    body = json.dumps(ex.get("messages", []), sort_keys=True, ensure_ascii=True,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def manifest(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"examples": n, "digest": sha256 over the sorted example hashes}``."""
    hashes = sorted(example_hash(ex) for ex in examples)
    return {"examples": len(examples),
            "digest": hashlib.sha256("\n".join(hashes).encode()).hexdigest()}


def check_manifest(ref: str, examples: Sequence[dict[str, Any]], meta: dict[str, Any]) -> bool:
    """True when ``meta`` holds an integrity manifest and it matches; False when it holds none
    (a training set built before this check); IntegrityError on a mismatch."""
    want = (meta or {}).get(META_KEY)
    if not want:
        return False
    if manifest(examples) != want:
        raise IntegrityError(f"training set '{ref}': its examples do not match the integrity "
                             "manifest recorded when it was built")
    return True


@dataclass
class IntegrityReport:
    examples: int
    duplicates: list[list[str]] = field(default_factory=list)
    near_duplicates: list[list[str]] = field(default_factory=list)
    outliers: list[str] = field(default_factory=list)
    label_flips: list[str] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def poisoned(self) -> list[str]:
        return sorted({i for t in self.triggers for i in t["examples"]})

    def figures(self) -> dict[str, Any]:
        """Counts and ids only (no text): for the run's summary."""
        d = asdict(self)
        d["duplicate_groups"] = len(self.duplicates)
        d["near_duplicate_groups"] = len(self.near_duplicates)
        for k in ("duplicates", "near_duplicates"):
            d[k] = d[k][:20]
        return d


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _shingles(words: list[str], k: int = 3) -> set[str]:
    return {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}


def _near_duplicates(items: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Groups of ids whose word-3-gram Jaccard is >= NEAR_JACCARD (MinHash LSH candidates)."""
    perms, bands = 32, 8
    rows = perms // bands
    sigs: dict[str, tuple[int, ...]] = {}
    sh: dict[str, set[str]] = {}
    for i, words in items:
        s = _shingles(words)
        sh[i] = s
        hs = [int.from_bytes(hashlib.blake2b(x.encode(), digest_size=8).digest(), "big") for x in s]
        sigs[i] = tuple(min(((h ^ (0x9E3779B97F4A7C15 * (p + 1))) & 0xFFFFFFFFFFFFFFFF) for h in hs)
                        for p in range(perms))
    buckets: dict[tuple[int, tuple[int, ...]], list[str]] = defaultdict(list)
    for i, sig in sigs.items():
        for b in range(bands):
            buckets[(b, sig[b * rows:(b + 1) * rows])].append(i)
    parent = {i: i for i in sigs}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    seen: set[tuple[str, str]] = set()
    for ids in buckets.values():
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                pair = (ids[a], ids[b])
                if pair in seen:
                    continue
                seen.add(pair)
                x, y = sh[pair[0]], sh[pair[1]]
                if len(x & y) / max(1, len(x | y)) >= NEAR_JACCARD:
                    parent[find(pair[0])] = find(pair[1])
    groups: dict[str, list[str]] = defaultdict(list)
    for i in sigs:
        groups[find(i)].append(i)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


class _NaiveBayes:
    """Multinomial naive Bayes over word counts, with leave-one-out prediction."""

    def __init__(self, docs: list[tuple[Counter[str], str]]) -> None:
        self.labels: Counter[str] = Counter(lbl for _, lbl in docs)
        self.words: dict[str, Counter[str]] = defaultdict(Counter)
        self.totals: Counter[str] = Counter()
        for words, lbl in docs:
            self.words[lbl].update(words)
            self.totals[lbl] += sum(words.values())
        self.vocab = len({w for c in self.words.values() for w in c})

    def posterior(self, words: Counter[str], own: tuple[Counter[str], str] | None = None
                  ) -> dict[str, float]:
        scores = {}
        n = sum(self.labels.values()) - (1 if own else 0)
        for lbl, count in self.labels.items():
            c = count - (1 if own and own[1] == lbl else 0)
            if c <= 0:
                continue
            wc = self.words[lbl]
            total = self.totals[lbl] - (sum(own[0].values()) if own and own[1] == lbl else 0)
            s = math.log(c / n)
            for w, k in words.items():
                cnt = wc[w] - (own[0][w] if own and own[1] == lbl else 0)
                s += k * math.log((cnt + 1) / (total + self.vocab))
            scores[lbl] = s
        top = max(scores.values())
        z = sum(math.exp(v - top) for v in scores.values())
        return {lbl: math.exp(v - top) / z for lbl, v in scores.items()}


def scan(examples: Sequence[dict[str, Any]]) -> IntegrityReport:
    rep = IntegrityReport(len(examples))
    ids = [str(ex.get("id", i)) for i, ex in enumerate(examples)]
    texts = {i: _norm(_user(ex) + " || " + _answer(ex)) for i, ex in zip(ids, examples, strict=True)}
    by_text: dict[str, list[str]] = defaultdict(list)
    for i, t in texts.items():
        by_text[t].append(i)
    rep.duplicates = sorted(sorted(g) for g in by_text.values() if len(g) > 1)
    firsts = {g[0] for g in by_text.values()}
    rep.near_duplicates = [g for g in _near_duplicates([(i, texts[i].split()) for i in ids
                                                        if i in firsts])]
    by_kind: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for i, ex in zip(ids, examples, strict=True):
        by_kind[str(ex.get("kind", ""))].append((i, len(_user(ex)) + len(_answer(ex))))
    for rows in by_kind.values():
        if len(rows) < 10:
            continue
        lengths = [n for _, n in rows]
        med = statistics.median(lengths)
        mad = statistics.median(abs(n - med) for n in lengths) or 1.0
        rep.outliers += [i for i, n in rows if 0.6745 * abs(n - med) / mad > OUTLIER_Z]
    rep.outliers.sort()
    _labels(rep, [(i, ex) for i, ex in zip(ids, examples, strict=True)
                  if ex.get("kind") == "ticket_triage"])
    return rep


def _labels(rep: IntegrityReport, triage: list[tuple[str, dict[str, Any]]]) -> None:
    if len(triage) < 20:
        return
    docs = {i: (_WORD.findall(_user(ex).lower()), _answer(ex)) for i, ex in triage}
    nb = _NaiveBayes([(Counter(w), lbl) for w, lbl in docs.values()])
    if len(nb.labels) < 2:
        return
    for i, (words, lbl) in docs.items():
        c = Counter(words)
        post = nb.posterior(c, own=(c, lbl))
        best = max(post, key=lambda k: post[k])
        if best != lbl and post[best] >= FLIP_POSTERIOR:
            rep.label_flips.append(i)
    # planted triggers: rare, label-pure phrases whose examples' text says otherwise
    df: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for i, (words, _) in docs.items():
        for n in (2, 3, 4):
            for k in range(len(words) - n + 1):
                df[tuple(words[k:k + n])].add(i)
    cap = max(TRIGGER_CAP_MIN, int(TRIGGER_MAX_SHARE * len(docs)))
    found: list[dict[str, Any]] = []
    covered: set[frozenset[str]] = set()
    for gram, members in sorted(df.items(), key=lambda kv: (-len(kv[0]), sorted(kv[1]))):
        if not TRIGGER_MIN <= len(members) <= cap:
            continue
        labels = {docs[i][1] for i in members}
        if len(labels) != 1 or any(members <= c for c in covered):
            continue  # a sub-phrase of a trigger already found
        label = next(iter(labels))
        disagree = 0
        for i in members:
            words = [w for w in docs[i][0] if w not in gram]
            c = Counter(words)
            post = nb.posterior(c, own=(Counter(docs[i][0]), label))
            if max(post, key=lambda k: post[k]) != label:
                disagree += 1
        if disagree / len(members) >= TRIGGER_DISAGREE:
            covered.add(frozenset(members))
            found.append({"phrase_sha256": hashlib.sha256(" ".join(gram).encode()).hexdigest()[:16],
                          "words": len(gram), "examples": sorted(members),
                          "label_sha256": hashlib.sha256(label.encode()).hexdigest()[:16],
                          "disagreeing": disagree})
    rep.triggers = found
    rep.label_flips.sort()
