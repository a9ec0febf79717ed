"""External anchors for the audit-log head: a copy of every signed checkpoint kept where whoever
can roll back the workspace (its database and its head file) cannot.

One config line in ``privtune.yaml`` chooses it (``audit_anchor``):

* ``file:/ABSOLUTE/PATH``: an append-only file, ideally on another mount or host (an NFS export
  with ``chattr +a``, a WORM share). One JSON line per checkpoint: the workspace's vault id and
  the signed head (``seq, hash, ts, prev_seq, heads_digest, signature``; the vault map itself
  stays home). Several workspaces may share one file. ``latest()`` returns the highest valid
  head of this workspace: replaying an old line cannot hide a newer one.
* ``syslog`` or ``syslog:FACILITY`` (``local0`` .. ``local7``, ``user``, ``auth``): one line
  per checkpoint to the system logger (tag ``privtune-audit``), for forwarding to a log host.
  Write-only: ``verify`` cannot read it back; compare the last ``privtune-audit`` line with
  ``privtune audit-log verify``'s head by hand or in the log host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privtune.audit.head import SignedHead
from privtune.errors import AuditWriteFailed, ConfigError, IntegrityError

SYSLOG_TAG = "privtune-audit"
_FACILITIES = ("user", "auth", *(f"local{i}" for i in range(8)))


class Anchor(Protocol):
    spec: str
    readable: bool

    def publish(self, head: SignedHead) -> None:
        """Record ``head``; raise AuditWriteFailed if it cannot be recorded."""

    def latest(self, pub: Ed25519PublicKey | None, *, tail_bytes: int | None = None) -> SignedHead | None:
        """The newest head recorded for this workspace (None: none yet, or write-only); with
        ``tail_bytes``, among the lines of the file's last ``tail_bytes`` only."""


class FileAnchor:
    readable = True

    def __init__(self, path: Path, workspace_id: str) -> None:
        self.path = path
        self.workspace_id = workspace_id
        self.spec = f"file:{path}"

    def publish(self, head: SignedHead) -> None:
        line = json.dumps({"workspace": self.workspace_id, **head.to_dict(with_heads=False)},
                          separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size:  # a line cut short by a crash stays a line of its own
                    with open(self.path, "rb") as fh:
                        fh.seek(-1, os.SEEK_END)
                        if fh.read(1) != b"\n":
                            line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditWriteFailed(f"the audit-log anchor {self.spec} could not be written "
                                   f"({type(exc).__name__})") from None

    def latest(self, pub: Ed25519PublicKey | None, *, tail_bytes: int | None = None) -> SignedHead | None:
        """The highest-seq head of this workspace; IntegrityError if a line of ours is forged."""
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return None
        except OSError:
            raise IntegrityError(f"the audit-log anchor {self.spec} is unreadable") from None
        best: SignedHead | None = None
        with fh:
            if tail_bytes is not None:
                size = os.fstat(fh.fileno()).st_size
                if size > tail_bytes:
                    fh.seek(size - tail_bytes)
                    fh.readline()  # skip the partial first line
            for n, raw in enumerate(fh, 1):
                try:
                    d = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    continue  # a line cut short by a crash (it can never pass as a signed head)
                if not isinstance(d, dict) or d.get("workspace") != self.workspace_id:
                    continue
                head = SignedHead.from_dict(d, f"line {n} of the audit-log anchor {self.spec}")
                if pub is not None and not head.valid(pub):
                    raise IntegrityError(f"line {n} of the audit-log anchor {self.spec} has an "
                                         "invalid signature")
                if best is None or head.seq > best.seq:
                    best = head
        return best


class SyslogAnchor:
    readable = False

    def __init__(self, facility: str, workspace_id: str) -> None:
        self.facility = facility
        self.workspace_id = workspace_id
        self.spec = f"syslog:{facility}"

    def publish(self, head: SignedHead) -> None:
        import syslog

        fac = getattr(syslog, f"LOG_{self.facility.upper()}")
        line = json.dumps({"workspace": self.workspace_id, **head.to_dict(with_heads=False)},
                          separators=(",", ":"), ensure_ascii=True)
        syslog.openlog(SYSLOG_TAG, 0, fac)
        syslog.syslog(syslog.LOG_NOTICE, line)

    def latest(self, pub: Ed25519PublicKey | None, *, tail_bytes: int | None = None) -> SignedHead | None:
        return None


def open_anchor(spec: str, workspace_id: str) -> Anchor | None:
    """The anchor a config line names ('' for none); ConfigError for anything else."""
    spec = spec.strip()
    if not spec:
        return None
    kind, _, arg = spec.partition(":")
    if kind == "file":
        path = Path(arg)
        if not arg or not path.is_absolute():
            raise ConfigError("audit_anchor 'file:' needs an absolute path", key="audit_anchor")
        return FileAnchor(path, workspace_id)
    if kind == "syslog":
        facility = arg or "user"
        if facility not in _FACILITIES:
            raise ConfigError(f"audit_anchor syslog facility must be one of {', '.join(_FACILITIES)}",
                              key="audit_anchor")
        return SyslogAnchor(facility, workspace_id)
    raise ConfigError("audit_anchor must be '', 'file:/ABSOLUTE/PATH' or 'syslog[:FACILITY]'",
                      key="audit_anchor")
