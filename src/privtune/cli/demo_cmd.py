"""``privtune demo``: the whole pipeline on a synthetic HR company."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from privtune.cli.common import RichReporter, _fmt_value, console
from privtune.config import load_config


def headline(stage: str, f: dict[str, Any]) -> str:
    """One readable line per stage for the terminal; summary.json has every figure."""
    if stage == "company":
        return (f"{f['employees']} employees, {f.get('reviews', 0)} reviews, {f.get('tickets', 0)} "
                f"tickets, {f.get('policies', 0)} policies (seed {f['seed']}, {f['format']})")
    if stage == "ingest":
        return ", ".join(f"{k} {v:,}" for k, v in f["rows"].items()) + " -> vault"
    if stage == "scan":
        c = f["columns_by_class"]
        spans = sum(f["entities_in_texts"].values())
        return (f"{c.get('direct_identifier', 0)} direct-identifier, {c.get('quasi_identifier', 0)} "
                f"quasi-identifier, {c.get('sensitive', 0)} sensitive columns; {spans:,} PII spans "
                f"in {f['texts_scanned']:,} texts")
    if stage == "deidentify":
        return (f"{f['columns_dropped']} columns dropped, {f['columns_kept']} kept; "
                f"{f['spans_masked']:,} spans replaced; k={f['k']} (target {f['k_target']})")
    if stage == "dataset":
        return (f"{f['train_examples']:,} train / {f['val_examples']:,} val examples; "
                f"{f['train_employees']} / {f['val_employees']} employees, "
                f"{f['employees_in_both']} in both"
                + (f"; a person's data in at most {f['max_group_size']} unit(s)"
                   if "max_group_size" in f else ""))
    if stage == "base_model":
        cached = " (cached)" if f.get("from_cache") else ""
        if "params" not in f:
            return f"local model {f['path']}"
        return (f"tiny Mistral, {f['params'] / 1e6:.2f}M params, pre-train loss "
                f"{f['pretrain_loss_start']:.2f} -> {f['pretrain_loss_end']:.2f}{cached}")
    if stage == "train":
        person = (f"per person {f['epsilon_person']:g} (group size {f['group_size']}), "
                  if "epsilon_person" in f else "")
        dp = (f"DP per {f['dp_unit']} (epsilon {f['epsilon']:g}, {person}delta {f['delta']:g}), "
              if f.get("dp") else "no DP, ")
        return (f"LoRA {f['trainable_params']:,} trainable params, {dp}{f['steps']} steps, "
                f"val loss {f['initial_val_loss']:.2f} -> {f['final_val_loss']:.2f}, "
                f"{f.get('outputs', {}).get('adapter', '')}")
    if stage == "evaluate":
        rank = (f"ticket triage (rank of {f['triage_categories']} categories, "
                f"{f['triage_rank_examples']} tickets) {f['triage_rank_accuracy_base']:.0%} -> "
                f"{f['triage_rank_accuracy_tuned']:.0%}; " if "triage_rank_accuracy_tuned" in f
                else "")
        return (f"held-out employees: val loss {f['val_loss_base']:.2f} -> {f['val_loss_tuned']:.2f}; "
                f"{rank}exact answer {f['triage_accuracy_base']:.0%} -> "
                f"{f['triage_accuracy_tuned']:.0%}")
    if stage == "release":
        return f"{f['release']}: {f['model']} signed by {f['signer']} -> {f['directory']}"
    if stage == "verify":
        return (f"verified {f['model']}: signature, file hashes and registry "
                f"({f['release']} {f['registry_state']})")
    if stage == "serve":
        masked = ", ".join(f"{n} {t}" for t, n in f.get("masked", {}).items()) or "nothing"
        return (f"privtune serve on a loopback port, {f['questions']} questions asked with the "
                f"openai client as an app user; output redaction masked {masked}")
    if stage == "reference":
        rank = (f"triage rank {f['triage_rank_accuracy_tuned']:.0%}, "
                if "triage_rank_accuracy_tuned" in f else "")
        return (f"the same recipe WITHOUT DP (never released): {f['steps']} steps of "
                f"{f['batch_size']}; {rank}exact {f.get('triage_accuracy_tuned', 0):.0%}")
    if stage == "audit":
        exp = ", ".join(f"{k}x {v:.1f}" for k, v in f.get("exposure_max_by_repetitions", {}).items())
        probed = f.get("subjects_probed") or {}
        return (f"gate {'PASS' if f['passed'] else 'FAIL'} ({f.get('profile')} profile); "
                f"empirical epsilon >= {_fmt_value(f.get('empirical_epsilon_lb'))} over "
                f"{f.get('canary_candidates', 0)} canaries (accountant {_fmt_value(f['epsilon'])}); "
                f"canary exposure (bits) {exp or '—'}; "
                f"MIA AUC {_fmt_value(f['mia_auc_max'])} ({probed.get('membership', 0)} employees); "
                f"attribute advantage {_fmt_value(f.get('attribute_advantage'))}; "
                f"extraction {f['extraction_exact']} exact / "
                f"{f['extraction_near']} near; prompt attacks {f['prompt_attack_leaks']} leaks")
    return _fmt_value({k: v for k, v in f.items() if k not in ("seconds", "outputs")})


def print_summary(summary: dict[str, Any], title: str) -> None:
    """The summary table (one line per stage), the DP/non-DP utility line, the checks and the
    warnings: what `privtune demo` and `privtune run` print at the end."""
    table = Table(title=title)
    table.add_column("stage", style="bold")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    for name, figs in summary["stages"].items():
        done = " (resumed)" if name in summary.get("resumed", ()) else ""
        table.add_row(name, headline(name, figs) + done, f"{figs.get('seconds', 0):.1f}")
    console.print(table)
    u = summary.get("utility")
    if u and u.get("dp_rank") is not None:
        console.print(
            f"held-out ticket triage ({u['tickets']} tickets, {u['categories']} categories), "
            f"rank classification: non-private {u['nonprivate_rank']:.0%} vs DP "
            f"{u['dp_rank']:.0%} (epsilon {u['epsilon_person']:g} per person; base "
            f"{u['base_rank']:.0%}); exact answer: non-private {u['nonprivate_exact']:.0%} "
            f"vs DP {u['dp_exact']:.0%}")
    for check in summary["checks"]:
        mark = "[green]pass[/]" if check["ok"] else "[red]FAIL[/]"
        console.print(f"{mark}  {check['name']}: {check['detail']}")
    for w in summary.get("warnings", ()):
        console.print(f"[bold yellow]warning:[/] {escape(w)}", highlight=False)


def print_served(summary: dict[str, Any]) -> None:
    """The serving smoke test's answers, as the client received them (already masked)."""
    served = summary["stages"].get("serve")
    if not served:
        return
    console.print(f"asked through privtune serve ({served['model']}), as the openai client got it:")
    for a in served["answers"]:
        masked = ", ".join(f"{n} {t}" for t, n in a["masked"].items()) or "nothing"
        console.print(f"  Q: {escape(a['question'])}", highlight=False)
        console.print(f"  A: {escape(a['answer'].strip())}", highlight=False)
        console.print(f"     ({a['completion_tokens']} tokens, {a['finish_reason']}; "
                      f"redaction masked {masked})", highlight=False)


def print_gate(summary: dict[str, Any]) -> None:
    gate = summary.get("gate")
    if gate:
        mark = "[green]PASS[/]" if gate["passed"] else "[bold red]FAIL[/]"
        failed = f" (failed: {', '.join(gate['failed'])})" if gate["failed"] else ""
        console.print(f"privacy gate: {mark}{failed}; report: {gate['report']}")


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        overrides: list[str] = typer.Argument(None, help="Config overrides, e.g. train.steps=50."),
        out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output directory."),
        config: Path = typer.Option(None, "--config", "-c", help="Pipeline config YAML."),
    ) -> None:
        """Run every pipeline stage on a synthetic company; write summary.json and report.html."""
        from privtune.demo import run_demo
        from privtune.pipeline.config import PipelineConfig

        cfg = load_config(PipelineConfig, config, overrides or [])
        console.print(
            f"privtune demo: {cfg.company.employees} synthetic employees (seed "
            f"{cfg.company.seed}), tiny Mistral base, LoRA for {cfg.train.steps} steps"
        )
        result = run_demo(out, cfg, RichReporter())
        print_summary(result.summary, "privtune demo summary")
        print_served(result.summary)
        if result.demo_passphrase:
            from privtune.demo import DEMO_PASSPHRASE

            console.print(f"the demo vault is encrypted under the DEMO passphrase (synthetic data only): "
                          f"PRIVTUNE_PASSPHRASE='{DEMO_PASSPHRASE}'", highlight=False)
        print_gate(result.summary)
        console.print(f"\nsummary:   {result.summary_path.resolve()}")
        console.print(f"report:    {result.report_path.resolve()}")
        ws_dir = result.workspace_dir.resolve()
        console.print(f"workspace: {ws_dir}  (try: privtune status -w {ws_dir})")
        if result.admin_key:
            console.print(f"admin API key of the demo workspace (shown once): {result.admin_key}")
