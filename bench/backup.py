"""Backups: privtune backup vs restic 0.14 on the same workspace.

One workspace holding ``BACKUP_BENCH_MIB`` MiB of vault objects (default 256; encrypted, as the
vault stores them, so neither tool can compress them) in 16 object versions, plus its metadata
database, keys and config. For each tool:

* first snapshot of the workspace;
* incremental snapshot after one new dataset version (16 MiB) was put;
* verify reading every byte (privtune: ``backup verify``, its default; restic: ``check
  --read-data``, plain ``check`` does not read pack data);
* bytes stored in the repository after both snapshots;
* restore of the latest snapshot into a new directory (privtune: including its acceptance
  checks, vault verify and audit-log verify in the restored workspace).

restic backs up the directory as files (the SQLite database as it is on disk, not through the
online backup API, and the wrapped data keys inside it); privtune copies the database with the
backup API and escrows the data keys. Both run with their defaults on one machine; restic is
multi-threaded (GOMAXPROCS = all cores), privtune's backup runs on one thread.

Run: ``python bench/run.py backup`` or ``python bench/backup.py`` (needs ``restic`` on PATH:
``apt-get install restic``; without it the restic rows say so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

MIB = 1 << 20
SIZE_MIB = int(os.environ.get("BACKUP_BENCH_MIB", "256"))
VERSIONS = 16


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


class _Privtune:
    name = "privtune"

    def __init__(self, ws, base: Path) -> None:
        from privtune import backup
        from privtune.cli.backup_cmd import _accept_restored, _source

        self.ws, self.repo, self.base = ws, base / "pt-repo", base
        self._b, self._accept, self._source = backup, _accept_restored, _source

    def snapshot(self) -> None:
        self._b.create(self.ws.guard, self._source(self.ws), self.repo)

    def verify(self) -> None:
        assert self._b.verify(self.repo).ok

    def restore(self) -> None:
        self._b.restore(self.repo, self.base / "pt-restored")

    def restore_checked(self) -> None:
        """What `privtune backup restore` does: restore, then open the copy as the caller,
        check backup.restore, vault verify (every object decrypted) and audit-log verify."""
        self._b.restore(self.repo, self.base / "pt-restored-checked", accept=self._accept)


class _Restic:
    name = "restic"

    def __init__(self, ws, base: Path, exe: str) -> None:
        self.ws, self.exe, self.repo, self.base = ws, exe, base / "restic-repo", base
        self.env = {**os.environ, "RESTIC_PASSWORD": "bench only, synthetic data",
                    "RESTIC_REPOSITORY": str(self.repo), "RESTIC_CACHE_DIR": str(base / "rcache")}
        self.run("init")

    def run(self, *args: str) -> None:
        subprocess.run([self.exe, "--quiet", *args], env=self.env, check=True, capture_output=True)

    def snapshot(self) -> None:
        self.run("backup", str(self.ws.root))

    def verify(self) -> None:
        self.run("check", "--read-data")

    def restore(self) -> None:
        self.run("restore", "latest", "--target", str(self.base / "restic-restored"))


def _measure(tools, ws) -> dict[str, dict[str, float]]:
    """Both tools see the same workspace states: first snapshots, one new dataset version,
    incrementals, then verify and restore."""
    out: dict[str, dict[str, float]] = {t.name: {} for t in tools}
    for t in tools:
        out[t.name]["first_s"], _ = _timed(t.snapshot)
    ws.vault.put("dataset-new", os.urandom(16 * MIB), kind="dataset")
    for t in tools:
        out[t.name]["incremental_s"], _ = _timed(t.snapshot)
    for t in tools:
        out[t.name]["verify_s"], _ = _timed(t.verify)
        out[t.name]["stored_bytes"] = _du(t.repo)
        out[t.name]["restore_s"], _ = _timed(t.restore)
        if hasattr(t, "restore_checked"):
            out[t.name]["restore_checked_s"], _ = _timed(t.restore_checked)
    return out


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PRIVTUNE_PASSPHRASE", "privtune bench (synthetic data only, not a secret)")
    os.environ.setdefault("PRIVTUNE_BACKUP_PASSPHRASE", "privtune bench backup (not a secret)")
    from privtune.workspace import init_workspace

    load0 = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="privtune-bench-backup-"))
    try:
        ws = init_workspace(base / "ws")
        os.environ["PRIVTUNE_API_KEY"] = ws.initial_key.secret  # type: ignore[union-attr]
        per = SIZE_MIB * MIB // VERSIONS
        for i in range(VERSIONS):
            ws.vault.put(f"dataset-{i % 4}", os.urandom(per), kind="dataset")
        exe = shutil.which("restic")
        tools: list = [_Privtune(ws, base)]
        if exe is not None:
            tools.append(_Restic(ws, base, exe))
        res = _measure(tools, ws)
        pt = res["privtune"]
        rs: dict | str = res.get("restic") or "restic not installed (apt-get install restic)"
        version = subprocess.run([exe, "version"], capture_output=True, text=True).stdout.strip() \
            if exe else ""
        ws.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    mb = SIZE_MIB * MIB / 1e6
    rows = []
    for label, key in (("first snapshot", "first_s"), ("incremental (+16 MiB dataset)", "incremental_s"),
                       ("verify, every byte read", "verify_s"), ("restore latest (files only)", "restore_s")):
        row = {"measure": label, "privtune s": round(pt[key], 2)}
        if isinstance(rs, dict):
            row["restic s"] = round(rs[key], 2)
            row["privtune / restic"] = round(pt[key] / rs[key], 2) if rs[key] else ""
        rows.append(row)
    rows.append({"measure": "restore + vault verify + audit-log verify (the CLI's restore)",
                 "privtune s": round(pt["restore_checked_s"], 2)})
    stored = {"measure": "bytes stored after both snapshots (MB)",
              "privtune s": round(pt["stored_bytes"] / 1e6, 1)}
    if isinstance(rs, dict):
        stored["restic s"] = round(rs["stored_bytes"] / 1e6, 1)
        stored["privtune / restic"] = round(pt["stored_bytes"] / rs["stored_bytes"], 3)
    rows.append(stored)
    write("backup", {"size_mib": SIZE_MIB, "restic_version": version,
                     "loadavg_1m_start_end": [round(load0[0], 1), round(os.getloadavg()[0], 1)], "workspace_mb": round(mb, 1), "privtune": pt,
                     "restic": rs, "throughput_first_mb_s": round(mb / pt["first_s"], 1)},
          rows, ["measure", "privtune s", "restic s", "privtune / restic"])


if __name__ == "__main__":
    main(sys.argv[1:])
