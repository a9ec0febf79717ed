"""``make bench``: run every benchmark; results land in bench/results/ as JSON + markdown."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alerts
import audit
import auditlog
import backup
import console
import deid_policy
import dp
import dp_utility
import erasure
import federated
import pii
import pii_basic
import pii_external
import pii_speed
import pipeline
import synthesize
import train
import vault

BENCHES = {"pii_basic": pii_basic.main, "pii": pii.main, "pipeline": pipeline.main, "vault": vault.main,
           "auditlog": auditlog.main, "deid": deid_policy.main, "train": train.main, "dp": dp.main,
           "audit": audit.main, "backup": backup.main, "alerts": alerts.main,
           "erasure": erasure.main, "pii_external": pii_external.main, "pii_speed": pii_speed.main, "dp_utility": dp_utility.main,
           "console": console.main,
           "synthesize": synthesize.main,
           "federated": federated.main}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHES)
    for name in chosen:
        if name not in BENCHES:
            sys.exit(f"unknown benchmark '{name}'; available: {', '.join(BENCHES)}")
        print(f"== {name}")
        BENCHES[name]()
