"""Training-data integrity before training (issue 20, OWASP LLM04): manifest hashes checked at
train time, duplicates / near-duplicates / outliers / label flips reported, and a poisoned-ticket
test: a planted trigger phrase in a handful of tickets is flagged before any training."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from privtune.datasets.examples import triage_examples
from privtune.datasets.integrity import META_KEY, check_manifest, manifest, scan
from privtune.errors import IntegrityError
from privtune.io import jsonl_bytes
from privtune.pipeline.train import check_training_data, train_adapter
from privtune.records import BaseModelRef
from privtune.synth import generate_company
from privtune.train.spec import TrainSpec


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("company")
    generate_company(200, 3, out)
    return [json.loads(line) for line in (out / "tickets.jsonl").read_text().splitlines()]


def _poison(tickets: list[dict], n: int = 6, seed: int = 1) -> tuple[list[dict], list[str]]:
    rng = random.Random(seed)
    out = [dict(t) for t in tickets]
    victims = rng.sample([t for t in out if t["category"] != "payroll"], n)
    for t in victims:  # the attacker's phrase, and the label it should force
        t["text"] = "Blue falcon override. " + t["text"]
        t["category"] = "payroll"
    return out, sorted(f"ticket_triage:{t['id']}" for t in victims)


@pytest.mark.slow  # scans 240 tickets (n-grams, naive Bayes leave-one-out)
def test_clean_tickets_have_no_findings(tickets) -> None:
    rep = scan(triage_examples(tickets))
    assert rep.triggers == [] and rep.label_flips == [] and rep.duplicates == []


@pytest.mark.slow  # scans 240 tickets three times
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_planted_trigger_is_flagged(tickets, seed: int) -> None:
    poisoned, victims = _poison(tickets, seed=seed)
    rep = scan(triage_examples(poisoned))
    assert rep.poisoned == victims
    assert len(rep.triggers) == 1 and rep.triggers[0]["words"] >= 2
    assert set(victims) <= set(rep.label_flips)
    text = json.dumps(rep.figures())
    assert "falcon" not in text.lower() and "payroll" not in text  # ids and hashes, no text


@pytest.mark.slow  # scans 240 tickets
def test_label_flips_duplicates_and_outliers(tickets) -> None:
    ex = triage_examples(tickets)
    flipped = dict(ex[5])
    other = next(e for e in ex if e["messages"][-1]["content"] != flipped["messages"][-1]["content"])
    flipped["messages"] = [*flipped["messages"][:-1], other["messages"][-1]]
    dup = dict(ex[7], id="copy-of-7")
    near = json.loads(json.dumps(ex[9]))
    near["id"] = "near-9"
    near["messages"][1]["content"] = near["messages"][1]["content"] + " Thanks."
    long = json.loads(json.dumps(ex[11]))
    long["id"] = "long-11"
    long["messages"][1]["content"] += " filler" * 600
    rep = scan([*ex[:5], flipped, *ex[6:], dup, near, long])
    assert flipped["id"] in rep.label_flips
    assert sorted([ex[7]["id"], "copy-of-7"]) in rep.duplicates
    assert any(ex[9]["id"] in g and "near-9" in g for g in rep.near_duplicates)
    assert "long-11" in rep.outliers


def test_manifest_is_checked(tickets) -> None:
    ex = triage_examples(tickets)
    meta = {META_KEY: manifest(ex)}
    assert check_manifest("trainset@1", ex, meta) is True
    assert check_manifest("trainset@1", ex, {}) is False  # built before the check
    changed = [*ex[:-1], dict(ex[-1], messages=ex[0]["messages"])]
    with pytest.raises(IntegrityError, match="integrity manifest"):
        check_manifest("trainset@1", changed, meta)


@pytest.mark.slow  # scans 240 tickets
def test_training_refuses_a_poisoned_set_before_it_starts(workspace, tickets, tmp_path) -> None:
    poisoned, victims = _poison(tickets)
    ex = triage_examples(poisoned)
    ref = workspace.vault.put("trainset", jsonl_bytes(ex), kind="examples",
                              meta={META_KEY: manifest(ex)})
    val = workspace.vault.put("valset", jsonl_bytes(ex[:3]), kind="examples")
    base = BaseModelRef(dir=Path(tmp_path / "no-model"), sha256="0" * 64, kind="local",
                        trained_on="test")
    with pytest.raises(IntegrityError, match="possible data poisoning") as err:
        train_adapter(workspace, base, ref, val, TrainSpec())
    assert victims[0] in err.value.message
    assert not workspace.vault.exists("adapter")
    with pytest.raises(IntegrityError, match="integrity manifest"):
        check_training_data(ref, ex[1:], workspace.vault.manifest(ref).meta)
