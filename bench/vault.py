"""Vault throughput: a 1 GiB object streamed through the container, next to `openssl speed`.

Each figure is measured in its own child process (peak RSS = that child's ru_maxrss), one core:

* openssl speed -evp aes-256-gcm -bytes 16384 (encrypt, and -decrypt): the limit on this machine;
* encrypt (crypto): source -> STREAM AES-256-GCM -> sink, no hashing, no disk;
* encrypt + hashes: the same with the manifest's SHA-256 of plaintext and ciphertext (the `put` path);
* durable write: the vault's `put_file` from a file to the vault folder (hashes, fsync, rename),
  next to a plain copy (read, write, fsync) of the same file: the disk's own limit;
* plain read: the same container file read into a reused buffer (the page-cache copy that the
  decrypt figures include);
* decrypt (crypto): container file (page cache) -> verify + decrypt -> sink (the `get` path);
* decrypt + hash: the same plus a SHA-256 of the plaintext (the `vault verify` path).

Peak RSS is each child's VmHWM (ru_maxrss would carry the parent's peak over fork+exec).

Run: ``python bench/run.py vault`` (``VAULT_BENCH_MIB`` changes the size; default 1024).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write

MIB = 1 << 20
SIZE_MIB = int(os.environ.get("VAULT_BENCH_MIB", "1024"))
OPENSSL_SECONDS = int(os.environ.get("VAULT_BENCH_OPENSSL_S", "5"))


class _Source:
    """A 1 GiB plaintext stream served from one reused random MiB (no disk, no big buffer)."""

    def __init__(self, total: int) -> None:
        self.block = os.urandom(MIB)
        self.left = total

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left, MIB)
        buf[:n] = self.block[:n]
        self.left -= n
        return n


class _Sink:
    def __init__(self) -> None:
        self.n = 0

    def write(self, b) -> int:
        self.n += len(b)
        return len(b)


def _peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: per address space, so not inherited across fork+exec
    the way ru_maxrss is)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, workdir: str) -> dict:
    """Runs in a fresh process; prints one JSON line."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from privtune.vault import format as fmt

    total = SIZE_MIB * MIB
    key, binding = bytes(range(32)), "bench:object@1"
    ct_path = Path(workdir) / "object.ct"
    t0 = time.perf_counter()
    if mode in ("encrypt", "encrypt_hashed"):
        hashed = mode == "encrypt_hashed"
        info = fmt.encrypt_stream(_Source(total), _Sink(), key, binding, hash_plaintext=hashed,
                                  hash_ciphertext=hashed)
        assert info.size == total
    elif mode == "write_ct":  # prepares the decrypt input (page cache), not reported
        with ct_path.open("wb") as fh:
            fmt.encrypt_stream(_Source(total), fh, key, binding, hash_plaintext=False, hash_ciphertext=False)
    elif mode in ("decrypt", "decrypt_hashed"):
        import hashlib

        h = hashlib.sha256() if mode == "decrypt_hashed" else None
        n = 0
        with ct_path.open("rb", buffering=0) as fh:
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            for pt in fmt.decrypt_chunks(fh, key, binding):
                if h is not None:
                    h.update(pt)
                n += len(pt)
        assert n == total
    elif mode == "plain_copy":
        src, dst = Path(workdir) / "plain.bin", Path(workdir) / "copy.bin"
        buf = bytearray(MIB)
        with src.open("rb", buffering=0) as fi, dst.open("wb", buffering=0) as fo:
            while n := fi.readinto(buf):
                fo.write(memoryview(buf)[:n])
            os.fsync(fo.fileno())
        dst.unlink()
    elif mode == "make_plain":
        with (Path(workdir) / "plain.bin").open("wb") as fo:
            s = _Source(total)
            buf = bytearray(MIB)
            while n := s.readinto(buf):
                fo.write(memoryview(buf)[:n])
    elif mode == "vault_put":
        from privtune.vault.kdf import Argon2Params
        from privtune.workspace import init_workspace

        os.environ.setdefault("PRIVTUNE_PASSPHRASE", "privtune bench vault (throwaway, not a secret)")
        # A throwaway workspace: cheap Argon2id (the KEK's cost is not what this measures).
        ws = init_workspace(Path(workdir) / "ws", kdf=Argon2Params(1, 64, 1))
        t0 = time.perf_counter()
        ref = ws.vault.put_file("big", Path(workdir) / "plain.bin")
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        n = ws.vault.get_to(ref, _Sink())
        get_seconds = time.perf_counter() - t1
        assert n == total
        return {"seconds": seconds, "get_seconds": get_seconds, "rss_mib": _peak_rss_mib()}
    elif mode == "plain_read":
        buf = bytearray(MIB)
        with ct_path.open("rb", buffering=0) as fh:
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while fh.readinto(buf):
                pass
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_mib": _peak_rss_mib()}


def _run_child(mode: str, workdir: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, workdir], check=True,
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _openssl(decrypt: bool) -> float:
    """MB/s (10^6 bytes) of `openssl speed -evp aes-256-gcm -bytes 16384`, one core."""
    cmd = ["openssl", "speed", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", str(OPENSSL_SECONDS)]
    if decrypt:
        cmd.insert(2, "-decrypt")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = [ln for ln in out.splitlines() if ln.lower().startswith("aes-256-gcm")][-1]
    return float(re.findall(r"([\d.]+)k", line)[-1]) * 1000 / 1e6


def main() -> None:
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="privtune-bench-", dir=os.environ.get("VAULT_BENCH_DIR")) as wd:
        size_mb = SIZE_MIB * MIB / 1e6
        ossl_enc, ossl_dec = _openssl(False), _openssl(True)

        def row(name: str, res: dict, peer: float | None, seconds_key: str = "seconds") -> None:
            mbps = size_mb / res[seconds_key]
            rows.append({"measure": name, "MB/s": round(mbps, 1),
                         "vs openssl": round(mbps / peer, 2) if peer else "",
                         "peak RSS MiB": round(res["rss_mib"], 1)})

        rows.append({"measure": "openssl speed aes-256-gcm encrypt (16 KiB)", "MB/s": round(ossl_enc, 1),
                     "vs openssl": 1.0, "peak RSS MiB": ""})
        rows.append({"measure": "openssl speed aes-256-gcm decrypt (16 KiB)", "MB/s": round(ossl_dec, 1),
                     "vs openssl": 1.0, "peak RSS MiB": ""})
        row("encrypt, streamed (source -> STREAM -> sink)", _run_child("encrypt", wd), ossl_enc)
        row("encrypt + SHA-256 of plaintext and ciphertext", _run_child("encrypt_hashed", wd), ossl_enc)
        _run_child("write_ct", wd)
        row("plain read of the container file (no crypto; page-cache limit)", _run_child("plain_read", wd), None)
        row("decrypt, streamed (file -> verify+decrypt -> sink)", _run_child("decrypt", wd), ossl_dec)
        row("decrypt + SHA-256 of plaintext", _run_child("decrypt_hashed", wd), ossl_dec)
        (Path(wd) / "object.ct").unlink()
        _run_child("make_plain", wd)
        row("plain copy file -> file + fsync (no crypto; disk limit)", _run_child("plain_copy", wd), None)
        put = _run_child("vault_put", wd)
        row("vault put_file (encrypt + hashes + durable write)", put, None)
        row("vault get_to (authenticated decrypt of the stored object)", put, ossl_dec, "get_seconds")
    load_after = os.getloadavg()
    write("vault", {"size_mib": SIZE_MIB, "openssl_seconds": OPENSSL_SECONDS,
                    "loadavg_before": load_before, "loadavg_after": load_after,
                    "openssl_mbps": {"encrypt": ossl_enc, "decrypt": ossl_dec}},
          rows, ["measure", "MB/s", "vs openssl", "peak RSS MiB"])
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3])))
    else:
        main()
