"""Wall time of each pipeline stage at the demo's size (and tokens/s of LoRA training).

Runs the demo pipeline through the library (not the CLI), with a warm base-model cache, so the
figures are the stages' own cost on this machine.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write
from privtune.demo import STAGES, run_demo
from privtune.pipeline.config import PipelineConfig


def main() -> None:
    cfg = PipelineConfig()
    with tempfile.TemporaryDirectory(prefix="privtune-bench-") as d:
        run_demo(Path(d) / "warm", cfg.model_copy(update={}))  # warm the base-model cache
        result = run_demo(Path(d) / "out", cfg)
    st = result.summary["stages"]
    rows = [{"stage": s, "seconds": st[s]["seconds"]} for s in STAGES]
    tr = st["train"]
    write("pipeline", {"total_seconds": result.summary["total_seconds"], "employees": cfg.company.employees,
                       "train_steps": tr["steps"], "train_seconds": tr["train_seconds"],
                       "val_loss": [tr["initial_val_loss"], tr["final_val_loss"]]},
          rows, ["stage", "seconds"])


if __name__ == "__main__":
    main()
