"""Typed records: what passes between the stages, and what is stored about it.

Each record is a frozen pydantic model with a schema version. It is written only through
:meth:`Record.to_dict` (a vault manifest's ``meta``, a row's JSON, ``release.json``) and read back
only through :meth:`Record.from_dict`, which migrates older versions step by step and refuses
unknown or missing keys with an :class:`~privtune.errors.IntegrityError` naming the record.

- :class:`BaseModelRef`: the base checkpoint fine-tuning starts from (directory, hash, what it
  was trained on).
- :class:`DatasetRecord`: the training and validation sets (refs), canaries, split, privacy unit.
- :class:`AdapterRecord`: a trained adapter (the ``peft-lora`` vault object's ``meta``).
- :class:`AuditVerdict`: the outcome of a privacy audit (the verdict document stays as it is:
  its hash is what a release signs).
- :class:`ReleaseRecord`: the signed ``release.json`` of a released adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from privtune.errors import IntegrityError

Migration = Callable[[dict[str, Any]], dict[str, Any]]
VERSION_KEY = "schema_version"


class Record(BaseModel):
    """A stored record: frozen, strict about its keys, versioned, migrated on read."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=False)

    #: The name errors use, and the current schema version.
    KIND: ClassVar[str] = "record"
    VERSION: ClassVar[int] = 1
    #: ``MIGRATIONS[n]`` turns a version-``n`` dict into a version-``n + 1`` dict.
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {}

    # -- the version stamp (overridden where the stored form already names its schema)
    @classmethod
    def _read_version(cls, data: dict[str, Any]) -> int:
        v = data.pop(VERSION_KEY, None)
        if not isinstance(v, int) or isinstance(v, bool):
            raise IntegrityError(f"{cls.KIND} record: missing or invalid '{VERSION_KEY}'")
        return v

    @classmethod
    def _stamp(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {VERSION_KEY: cls.VERSION, **data}

    # -- reading and writing
    def to_dict(self) -> dict[str, Any]:
        """The stored form: JSON-ready, with the schema version."""
        return self._stamp(self.model_dump(mode="json"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        """Read a stored record (any known version) or raise :class:`IntegrityError`."""
        if not isinstance(data, Mapping):
            raise IntegrityError(f"{cls.KIND} record: expected an object, got {type(data).__name__}")
        doc = dict(data)
        version = cls._read_version(doc)
        if version > cls.VERSION or version < 1:
            raise IntegrityError(f"{cls.KIND} record: unknown schema version {version} "
                                 f"(this privtune reads up to {cls.VERSION})")
        for v in range(version, cls.VERSION):
            doc = cls.MIGRATIONS[v](doc)
        try:
            return cls.model_validate(doc)
        except ValidationError as e:
            raise IntegrityError(f"{cls.KIND} record: {_problems(e)}") from None


def _problems(e: ValidationError) -> str:
    """Which keys are wrong (never their values: a record may sit next to personal data)."""
    out = []
    for err in e.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(record)"
        what = {"missing": "missing key", "extra_forbidden": "unknown key"}.get(
            err["type"], err["type"].replace("_", " "))
        out.append(f"{what} '{where}'")
    return "; ".join(out)


class BaseModelRef(Record):
    """The local base checkpoint: where it is, its hash, and what it was trained on."""

    KIND: ClassVar[str] = "base model"

    dir: Path
    sha256: str
    kind: Literal["tiny-mistral", "local"]
    #: What the base saw: never employee records (``tiny``), or "unknown" for a given directory.
    trained_on: str


def _dataset_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no group sizes: unknown (``None``), never assumed to be 1."""
    return {**doc, "max_group_size": None, "group_sizes": None}


class DatasetRecord(Record):
    """The training and validation sets of one dataset build (vault refs)."""

    KIND: ClassVar[str] = "dataset"
    VERSION: ClassVar[int] = 2
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _dataset_v1}

    train: str
    val: str
    canaries: str | None
    #: What the split holds apart: no subject is in both sets.
    split_by: Literal["employee"] = "employee"
    val_fraction: float
    seed: int
    #: The unit differential privacy protects by default (docs/dp.md).
    privacy_unit: Literal["employee", "example"] = "employee"
    #: The most privacy units one person's data sits in (person-level DP: docs/dp.md), and the
    #: histogram {group size: persons} (numbers only); ``None`` when not computed.
    max_group_size: int | None = None
    group_sizes: dict[str, int] | None = None


def _adapter_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 is the untyped manifest meta written before records: ``resumed_from`` only
    when a run resumed."""
    return {"resumed_from": None, **doc}


class AdapterRecord(Record):
    """A trained LoRA adapter: the ``peft-lora`` vault object's ``meta``."""

    KIND: ClassVar[str] = "adapter"
    VERSION: ClassVar[int] = 2
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _adapter_v1}

    train: dict[str, Any]                # the resolved train config (TrainSpec as JSON)
    train_data: str
    val_data: str
    base_model: str                      # the base model directory it was trained on
    base_model_sha256: str
    privacy: dict[str, Any]              # {"dp": False} or the DP plan's record
    metrics: dict[str, Any]              # the train stage's figures (numbers only)
    checkpoints: list[str]
    resumed_from: str | None = None

    @classmethod
    def _read_version(cls, data: dict[str, Any]) -> int:
        if VERSION_KEY not in data:
            return 1  # written before adapter records had a version
        return super()._read_version(data)

    @property
    def dp(self) -> bool:
        return bool(self.privacy.get("dp") or self.privacy.get("enabled"))

    @property
    def epsilon(self) -> float | None:
        eps = self.privacy.get("epsilon")
        return float(eps) if self.dp and isinstance(eps, (int, float)) else None

    @property
    def epsilon_person(self) -> float | None:
        """The person-level epsilon (group privacy over the units one person's data sits in);
        ``None`` when not private or recorded before person-level accounting."""
        eps = self.privacy.get("epsilon_person")
        return float(eps) if self.dp and isinstance(eps, (int, float)) else None


class AuditVerdict(Record):
    """A privacy audit's outcome: which model, pass or fail, where the report is."""

    KIND: ClassVar[str] = "audit verdict"

    audit_id: str
    model_ref: str
    adapter_sha256: str
    base_sha256: str
    passed: bool
    failed: list[str]
    verdict_sha256: str
    report: str                          # relative to the workspace root
    dp: bool
    epsilon: float | None
    delta: float | None
    #: The hash of the policy the audit judged by, its profile and the real employees each
    #: attack probed (absent in verdicts made before the release registry).
    policy_sha256: str | None = None
    profile: str | None = None
    subjects_probed: dict[str, int] = {}
    #: The one-run empirical epsilon lower bound over the candidate canaries (None: no canaries).
    empirical_epsilon_lb: float | None = None


RELEASE_SCHEMA = "privtune-release"
ReleaseState = Literal["released", "revoked", "quarantined"]


def signer_key_id(public_key_b64: str) -> str:
    """The id of a release signing key: the first 16 hex digits of SHA-256 over its raw
    public bytes (base64 in the record)."""
    import base64
    import binascii
    import hashlib

    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("release record: invalid 'public_key'") from None
    return hashlib.sha256(raw).hexdigest()[:16]


def _release_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 predates the release registry: no release id, policy hash or audit profile;
    the signer's key id follows from its public key."""
    return {**doc, "release_id": None, "policy_sha256": None, "profile": None,
            "signer_key_id": signer_key_id(str(doc.get("public_key", "")))}


class ReleaseRecord(Record):
    """``release.json``: what a signed release vouches for, and the ``record`` of its row in the
    release registry. The stored form keeps the schema name ``privtune-release/<version>`` in its
    ``schema`` key. Version 2 adds the registry's release id, the hash of the workspace policy
    the release was judged by, the audit profile and the signer's key id."""

    KIND: ClassVar[str] = "release"
    VERSION: ClassVar[int] = 2
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _release_v1}

    model_ref: str
    adapter_sha256: str
    files: dict[str, str]
    base_sha256: str
    audit_id: str
    audit_sha256: str
    audit_passed: bool
    dp: bool
    epsilon: float | None
    delta: float | None
    released_at: str
    public_key: str
    release_id: str | None
    policy_sha256: str | None
    profile: str | None
    signer_key_id: str

    @classmethod
    def _read_version(cls, data: dict[str, Any]) -> int:
        schema = data.pop("schema", None)
        name, _, v = str(schema).partition("/")
        if name != RELEASE_SCHEMA or not v.isdigit():
            raise IntegrityError(f"{cls.KIND} record: missing or invalid 'schema'")
        return int(v)

    @classmethod
    def _stamp(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"schema": f"{RELEASE_SCHEMA}/{cls.VERSION}", **data}
