"""Console page render time under 8 concurrent clients: the overview and the audit-log page
(50 events, paginated) of a workspace holding 100,000 audit events.

A fresh workspace (synthetic, no personal data) is filled with 100,000 audit events (appended
with ``audit_sync: normal`` to fill it fast; the console then runs with the default ``full``),
an auditor and a DPO sign in, and 8 client threads (each with its own session) request the
overview and random audit-log pages (``?before=<random seq>``, the keyset pagination) as fast
as they can over HTTP/1.1 from the same machine. Every page view is itself checked and written to
the audit log (fsync'd) before it is rendered, and the workspace is used one request at a
time (one lock): the figures are the whole request, not just the template.

Run: ``python bench/run.py console`` (``BENCH_CONSOLE_EVENTS``, default 100000;
``BENCH_CONSOLE_REQUESTS`` per client and page, default 40).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

EVENTS = int(os.environ.get("BENCH_CONSOLE_EVENTS", "100000"))
REQUESTS = int(os.environ.get("BENCH_CONSOLE_REQUESTS", "40"))
CLIENTS = 8


def _fill(ws, n: int) -> float:
    t0 = time.perf_counter()
    ws.audit.close()
    ws.audit.sync = "normal"
    ops = ("metadata.read", "data.read", "model.query", "training.read", "audit.read")
    for i in range(n):
        ws.audit.append(actor=f"u-{i % 40:016x}", role="ml-engineer", key_id=f"{i % 40:012x}",
                        op=ops[i % len(ops)], object=f"employees@{i % 7 + 1}",
                        outcome="deny" if i % 97 == 0 else "allow", detail={"kind": "table"})
    ws.audit.close()
    ws.audit.sync = "full"
    return time.perf_counter() - t0


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PRIVTUNE_PASSPHRASE", "privtune bench (synthetic data only, not a secret)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "console"))
    from helpers import Client, live  # the tests' live server and cookie-keeping client

    from privtune.access import admin
    from privtune.console.service import build
    from privtune.vault.kdf import Argon2Params
    from privtune.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws", kdf=Argon2Params(1, 64, 1))
        keys = {r: admin.add_user(ws.access, ws.store, f"b-{r}", r).secret
                for r in ("auditor", "dpo")}
        fill_s = _fill(ws, EVENTS)
        app = build(ws)
        rows = []
        with live(app) as url:
            clients = []
            for i in range(CLIENTS):
                c = Client(url)
                assert c.login(keys["auditor" if i % 2 else "dpo"])[0] == 303
                clients.append(c)
            top = EVENTS
            for page in ("overview", "audit-log"):
                lat: list[float] = []
                errors = []
                lock = threading.Lock()

                def worker(c: Client, seed: int, page: str = page, lat: list[float] = lat,
                           errors: list[int] = errors, lock: threading.Lock = lock) -> None:
                    rnd = random.Random(seed)
                    for _ in range(REQUESTS):
                        path = "/" if page == "overview" else \
                            f"/audit-log?before={rnd.randint(100, top)}"
                        t0 = time.perf_counter()
                        status, _, body = c.get(path)
                        dt = time.perf_counter() - t0
                        with lock:
                            lat.append(dt)
                            if status != 200 or "<table" not in body:
                                errors.append(status)

                t0 = time.perf_counter()
                threads = [threading.Thread(target=worker, args=(c, i)) for i, c in
                           enumerate(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - t0
                rows.append({"page": page, "events_in_log": EVENTS, "clients": CLIENTS,
                             "requests": len(lat), "errors": len(errors),
                             "p50_ms": round(statistics.median(lat) * 1000, 1),
                             "p99_ms": round(_pct(lat, 0.99) * 1000, 1),
                             "max_ms": round(max(lat) * 1000, 1),
                             "pages_per_s": round(len(lat) / wall, 1)})
        ws.close()
    load = os.getloadavg()
    write("console", {"events": EVENTS, "fill_seconds": round(fill_s, 1),
                      "requests_per_client_and_page": REQUESTS, "loadavg_1m": round(load[0], 2)},
          rows, ["page", "events_in_log", "clients", "requests", "errors", "p50_ms", "p99_ms",
                 "max_ms", "pages_per_s"])


if __name__ == "__main__":
    main(sys.argv[1:])
