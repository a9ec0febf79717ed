"""The typed records: stored form round-trips, older versions migrate, unknown or missing keys
are errors naming the record (never a value)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privtune.errors import IntegrityError
from privtune.records import (
    AdapterRecord,
    AuditVerdict,
    BaseModelRef,
    DatasetRecord,
    ReleaseRecord,
)

SHA = "ab" * 32
ADAPTER = dict(train={"lr": 0.01, "steps": 6, "lora": {"r": 8}}, train_data="trainset@1",
               val_data="valset@1", base_model="/models/tiny", base_model_sha256=SHA,
               privacy={"dp": False}, metrics={"steps": 6, "final_val_loss": 1.5},
               checkpoints=["ckpt-x@1"])
RELEASE_V1 = dict(model_ref="adapter@1", adapter_sha256=SHA, files={"a": SHA}, base_sha256=SHA,
                  audit_id="audit-1", audit_sha256=SHA, audit_passed=True, dp=True, epsilon=7.5,
                  delta=1e-5, released_at="2026-01-01T00:00:00", public_key="AAAA")
RELEASE = dict(RELEASE_V1, release_id="rel-1", policy_sha256=SHA, profile="full",
               signer_key_id="0123456789abcdef")

EXAMPLES = [
    BaseModelRef(dir=Path("/m/tiny"), sha256=SHA, kind="tiny-mistral", trained_on="no PII"),
    DatasetRecord(train="trainset@1", val="valset@1", canaries=None, val_fraction=0.2, seed=0),
    AdapterRecord(**ADAPTER),
    AuditVerdict(audit_id="audit-1", model_ref="adapter@1", adapter_sha256=SHA, base_sha256=SHA,
                 passed=False, failed=["mia_auc_max"], verdict_sha256=SHA, report="r.html",
                 dp=False, epsilon=None, delta=None),
    ReleaseRecord(**RELEASE),
]


@pytest.mark.parametrize("rec", EXAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip_through_the_stored_form(rec) -> None:
    doc = rec.to_dict()
    assert type(rec).from_dict(doc) == rec
    assert type(rec).from_dict(dict(doc)).to_dict() == doc


@pytest.mark.parametrize("rec", EXAMPLES, ids=lambda r: type(r).__name__)
def test_unknown_and_missing_keys_are_errors_naming_the_record(rec) -> None:
    kind = type(rec).KIND
    doc = rec.to_dict()
    with pytest.raises(IntegrityError, match=f"{kind} record: unknown key 'surprise'"):
        type(rec).from_dict({**doc, "surprise": 1})
    field = next(iter(type(rec).model_fields))
    with pytest.raises(IntegrityError, match=f"{kind} record: missing key '{field}'"):
        type(rec).from_dict({k: v for k, v in doc.items() if k != field})
    with pytest.raises(IntegrityError, match=kind):
        type(rec).from_dict(None)


def test_records_are_frozen() -> None:
    with pytest.raises(Exception):
        EXAMPLES[1].seed = 3  # type: ignore[misc]


def test_versions_are_stamped_and_future_versions_refused() -> None:
    doc = EXAMPLES[1].to_dict()
    assert doc["schema_version"] == DatasetRecord.VERSION
    with pytest.raises(IntegrityError, match="unknown schema version 99"):
        DatasetRecord.from_dict({**doc, "schema_version": 99})
    with pytest.raises(IntegrityError, match="schema_version"):
        DatasetRecord.from_dict({k: v for k, v in doc.items() if k != "schema_version"})
    assert ReleaseRecord(**RELEASE).to_dict()["schema"] == "privtune-release/2"
    with pytest.raises(IntegrityError, match="'schema'"):
        ReleaseRecord.from_dict({**RELEASE, "schema": "something-else/1"})


def test_release_record_v1_migrates() -> None:
    """Version 1 (before the release registry): no release id, policy hash or profile; the
    signer's key id is derived from the public key."""
    import base64
    import hashlib

    rec = ReleaseRecord.from_dict({"schema": "privtune-release/1", **RELEASE_V1})
    assert rec.release_id is None and rec.policy_sha256 is None and rec.profile is None
    assert rec.signer_key_id == hashlib.sha256(base64.b64decode("AAAA")).hexdigest()[:16]
    assert rec.to_dict()["schema"] == "privtune-release/2"
    with pytest.raises(IntegrityError, match="public_key"):
        ReleaseRecord.from_dict({"schema": "privtune-release/1", **RELEASE_V1, "public_key": "!"})


def test_adapter_meta_written_before_records_migrates() -> None:
    """Version 1: the untyped manifest meta (no version, ``resumed_from`` only when resumed)."""
    rec = AdapterRecord.from_dict(dict(ADAPTER))
    assert rec.resumed_from is None and rec.to_dict()["schema_version"] == 2
    resumed = AdapterRecord.from_dict({**ADAPTER, "resumed_from": "ckpt-x@1"})
    assert resumed.resumed_from == "ckpt-x@1"
    with pytest.raises(IntegrityError, match="missing key 'train_data'"):
        AdapterRecord.from_dict({k: v for k, v in ADAPTER.items() if k != "train_data"})


def test_adapter_privacy_helpers() -> None:
    assert not AdapterRecord(**ADAPTER).dp and AdapterRecord(**ADAPTER).epsilon is None
    dp = AdapterRecord(**{**ADAPTER, "privacy": {"dp": True, "epsilon": 4.0, "delta": 1e-5}})
    assert dp.dp and dp.epsilon == 4.0


def test_person_level_epsilon_and_the_card() -> None:
    from privtune.reports.model_card import render_model_card

    unit_only = AdapterRecord(**{**ADAPTER, "privacy": {"dp": True, "epsilon": 4.0}})
    assert unit_only.epsilon_person is None  # recorded before person-level accounting
    p = {"dp": True, "epsilon": 4.0, "epsilon_person": 31.5, "group_size": 2, "delta": 1e-5,
         "unit": "employee"}
    rec = AdapterRecord(**{**ADAPTER, "privacy": p})
    assert (rec.epsilon, rec.epsilon_person) == (4.0, 31.5)
    card = render_model_card(name="m", base_model="b", base_sha256=SHA, merged=False, record=rec)
    assert "(epsilon, delta) = (4.0, 1e-05)" in card
    assert "Per person: epsilon 31.5" in card and "group privacy over 2 units" in card
    one = AdapterRecord(**{**ADAPTER, "privacy": {**p, "epsilon_person": 4.0, "group_size": 1}})
    card1 = render_model_card(name="m", base_model="b", base_sha256=SHA, merged=False, record=one)
    assert "Per person: epsilon 4.0" in card1 and "equals the unit-level one" in card1


def test_dataset_record_v1_migrates_with_unknown_group_sizes() -> None:
    doc = {**EXAMPLES[1].to_dict(), "schema_version": 1}
    del doc["max_group_size"], doc["group_sizes"]
    rec = DatasetRecord.from_dict(doc)
    assert rec.max_group_size is None and rec.group_sizes is None
    assert rec.to_dict()["schema_version"] == 2


def test_errors_never_carry_values() -> None:
    secret = "Jane Doe, 1984-02-03"
    with pytest.raises(IntegrityError) as e:
        DatasetRecord.from_dict({**EXAMPLES[1].to_dict(), "seed": secret})
    assert secret not in str(e.value)


refs = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).map(
    lambda s: f"{s}@1")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)


@given(train=refs, val=refs, canaries=st.none() | refs,
       frac=st.floats(0.01, 0.89), seed=st.integers(0, 2**31))
def test_dataset_round_trip_property(train, val, canaries, frac, seed) -> None:
    rec = DatasetRecord(train=train, val=val, canaries=canaries, val_fraction=frac, seed=seed)
    assert DatasetRecord.from_dict(rec.to_dict()) == rec


@given(train=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       metrics=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       ckpts=st.lists(refs, max_size=3), resumed=st.none() | refs)
def test_adapter_round_trip_property(train, metrics, ckpts, resumed) -> None:
    rec = AdapterRecord(**{**ADAPTER, "train": train, "metrics": metrics, "checkpoints": ckpts,
                           "resumed_from": resumed})
    assert AdapterRecord.from_dict(rec.to_dict()) == rec
