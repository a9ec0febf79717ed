"""The typed error tree of privtune.

Every failure a user can cause or meet (bad input, bad config, missing workspace, a damaged
object) is one of these. The CLI turns them into a single line on stderr and an exit code; a
traceback is shown only with ``--debug``.

Rule for every message: it names *where* (file, row, field, key, object) and never *what*
(no cell values, no texts): a value could be personal data, and errors end up in logs.
"""

from __future__ import annotations

from pathlib import Path


class PrivtuneError(Exception):
    """Base of every error privtune raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class InputError(PrivtuneError):
    """Input data is missing or malformed. Names the file and, when known, row and field."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.row = row
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ConfigError(PrivtuneError):
    """A configuration file or override is invalid. Names the key and the allowed values."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class WorkspaceError(PrivtuneError):
    """The workspace is missing, not initialised, or inconsistent."""

    exit_code = 3


class StorageError(WorkspaceError):
    """The metadata database cannot be read or written: disk full, I/O error, unreadable file.

    Told apart from a missing schema, so a full disk never reads as "not a workspace".
    """


class NotFoundError(PrivtuneError):
    """A named object (dataset, model, version) does not exist."""

    exit_code = 4


class IntegrityError(PrivtuneError):
    """Stored bytes do not match what was written (tampering, corruption, truncation)."""

    exit_code = 5


class WrongKey(PrivtuneError):
    """A key or passphrase does not open the object."""

    exit_code = 6


class PermissionDenied(PrivtuneError):
    """The principal may not perform this operation."""

    exit_code = 7


class PrivacyPolicyError(PrivtuneError):
    """A privacy requirement (k-anonymity, budget, audit gate) refuses the operation."""

    exit_code = 8


class OfflineViolation(PrivtuneError):
    """Code tried to open a network connection while privtune runs offline."""

    exit_code = 9


class ResourceError(PrivtuneError):
    """The requested hardware or optional dependency is not available (e.g. QLoRA without CUDA)."""

    exit_code = 10


class RandomnessUnavailable(ResourceError):
    """The operating system's randomness (``os.urandom``) failed: a DP run cannot draw its
    sampling or noise from anything else, so it stops."""


class KeyMissing(WrongKey):
    """No key to try: the passphrase, key file or Transit server is not available."""


class KeyDestroyed(NotFoundError):
    """The object's data key was destroyed (crypto-shredded): it can never be read again."""


class AuditWriteFailed(PermissionDenied):
    """The audit event could not be written, so the operation was refused (fail closed)."""


class ObjectKindConflict(PermissionDenied):
    """A vault write under a name whose kind is fixed (by its first version or a reserved name
    class) claimed another kind; refused whatever the role (privtune.vault.names)."""


class TrainingError(PrivtuneError):
    """Fine-tuning cannot go on (diverged loss, nothing to adapt)."""

    exit_code = 11


class SitesMissing(TrainingError):
    """A federated round could not start: fewer sites than the federation's minimum were
    connected when the round's deadline passed. Names the missing sites (site names, or the
    count when the coordinator cannot tell the nodes apart)."""

    def __init__(self, message: str, *, missing: list[str] | None = None, rnd: int | None = None) -> None:
        super().__init__(message)
        self.missing = list(missing or [])
        self.rnd = rnd
