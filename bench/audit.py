"""The privacy audit on the demo company: non-private vs DP (epsilon 8 and 1), side by side.

One workspace (the demo's 300-employee company, same seed, same dataset with the same canaries,
same tiny base); for each variant one LoRA run with the demo's training settings, then the
audit with the demo's audit settings. One table: canary exposure per repetition count, MIA AUC
and TPR at 1% FPR (best attack, with the employee counts), extraction and prompt-attack counts,
validation loss on held-out employees, and the audit's wall time.

    .venv/bin/python bench/audit.py [--variants nonprivate,dp8,dp1] [--steps N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

VARIANTS = {"nonprivate": ("non-private", None), "dp8": ("DP eps=8", 8.0), "dp1": ("DP eps=1", 1.0)}


def _dp(cfg, epsilon):
    """The DP section for a variant, or ``None`` when this build has no DP (issue 6)."""
    dp = getattr(cfg, "dp", None)
    if dp is None:
        return None
    if epsilon is None:
        return dp.model_copy(update={"enabled": False})
    return dp.model_copy(update={"enabled": True, "target_epsilon": epsilon})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="nonprivate,dp8,dp1")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's)")
    args = ap.parse_args(argv or [])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The bench's workspace is throwaway and holds synthetic data only: a fixed passphrase lets it
    # run unattended (as the demo does) when PRIVTUNE_PASSPHRASE is not set.
    os.environ.setdefault("PRIVTUNE_PASSPHRASE", "privtune bench (synthetic data only, not a secret)")
    from privtune.gate.audit import run_audit
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.site import gate_site
    from privtune.pipeline.train import train_adapter
    from privtune.synth import generate_company
    from privtune.workspace import init_workspace

    cfg = PipelineConfig()
    cfg.dataset.canaries.seed = 1234
    if args.steps:
        cfg.train.steps = args.steps
    load0 = os.getloadavg()
    results, columns = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        root = Path(tmp)
        generate_company(cfg.company.employees, cfg.company.seed, root / "export", fmt=cfg.company.format)
        ws = init_workspace(root / "ws", name="bench")
        stages = run_stages(ws, cfg, root / "export", stop="base_model", skip=("scan",))
        assert stages.dataset is not None and stages.base_model is not None
        ds, base = stages.dataset.record, stages.base_model.record
        for key in args.variants.split(","):
            label, eps = VARIANTS[key]
            dp = _dp(cfg, eps)
            if eps is not None and dp is None:
                print(f"skip {label}: this build has no differential privacy")
                continue
            kw = {"dp": dp} if dp is not None else {}
            t0 = time.perf_counter()
            tr = train_adapter(ws, base, ds.train, ds.val, cfg.train, name=f"adapter-{key}", **kw)
            train_s = time.perf_counter() - t0
            out = run_audit(gate_site(ws), tr.record.ref, cfg.audit, cfg.gate)
            results[label] = (tr.figures, out, train_s)
            columns.append(label)
            print(f"{label}: gate {'PASS' if out.passed else 'FAIL'} {out.verdict['failed']} "
                  f"audit {out.seconds:.1f}s")
        ws.close()
    rows = _rows(results, columns)
    write("audit", {"load_before": load0, "load_after": os.getloadavg(),
                    "employees": cfg.company.employees, "train_steps": cfg.train.steps,
                    "audit_settings": cfg.audit.model_dump(mode="json"),
                    "variants": {c: results[c][1].verdict for c in columns}},
          rows, ["metric", *columns])


def _rows(results, columns) -> list[dict]:
    def metric(label, fn):
        row = {"metric": label}
        for c in columns:
            fig, out, train_s = results[c]
            try:
                row[c] = fn(fig, out.verdict, out, train_s)
            except (KeyError, IndexError, TypeError):
                row[c] = "—"
        return row

    vals = lambda v, n: next(m["value"] for m in v["metrics"] if m["name"] == n)  # noqa: E731
    best = lambda v: max(v["details"]["membership"], key=lambda a: a["auc"])  # noqa: E731
    rows = [metric("epsilon (delta)", lambda f, v, o, t: "inf (no DP)" if not v["details"]["privacy"].get("dp")
                   else f"{v['details']['privacy']['epsilon']:.3g} ({v['details']['privacy']['delta']:.0e})")]
    reps = sorted({int(k) for c in columns for k in results[c][1].verdict["details"]["exposure_by_repetitions"]})
    for r in reps:
        rows.append(metric(f"canary exposure, {r}x (max bits of 29.9)",
                           lambda f, v, o, t, r=r: v["details"]["exposure_by_repetitions"][str(r)]["max"]))
    rows += [
        metric("MIA AUC, best attack", lambda f, v, o, t: f"{best(v)['auc']:.3f} ({best(v)['attack']})"),
        metric("MIA AUC: loss / base-calibrated / LiRA",
               lambda f, v, o, t: " / ".join(f"{a['auc']:.3f}" for a in v["details"]["membership"])),
        metric("MIA TPR @ 1% FPR (best)", lambda f, v, o, t: vals(v, "mia_tpr_at_1pct_fpr_max")),
        metric("MIA employees in / out", lambda f, v, o, t: f"{best(v)['members']} / {best(v)['non_members']}"),
        metric("extraction exact / near", lambda f, v, o, t: f"{vals(v, 'extraction_exact')} / {vals(v, 'extraction_near')}"
               f" ({v['details']['extraction']['generations']} generations)"),
        metric("prompt-attack leaks", lambda f, v, o, t: vals(v, "prompt_attack_leaks")),
        metric("val loss, held-out employees", lambda f, v, o, t: f"{f['initial_val_loss']:.3f} -> {f['final_val_loss']:.3f}"),
        metric("gate verdict", lambda f, v, o, t: "PASS" if v["passed"] else "FAIL: " + ", ".join(v["failed"])),
        metric("train wall time, s", lambda f, v, o, t: round(t, 1)),
        metric("audit wall time, s", lambda f, v, o, t: round(o.seconds, 1)),
        metric("audit: exposure / MIA / refs / extraction / prompts, s",
               lambda f, v, o, t: " / ".join(str(v["details"]["timings_s"][k]) for k in
                                             ("exposure", "membership", "references", "extraction", "prompt_attacks"))),
    ]
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
