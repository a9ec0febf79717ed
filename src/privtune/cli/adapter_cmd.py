"""``privtune chat MODEL``, ``privtune generate MODEL --prompts FILE``, ``privtune export MODEL``
(a released model only; ``--unaudited`` for an admin).

MODEL is a registered adapter in the vault (``adapter`` or ``adapter@N``); its base model is
found from the registration (or ``--base DIR``) and checked against the recorded hash.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace

BaseOpt = typer.Option(None, "--base", help="Base model directory (default: the one recorded "
                       "when the adapter was trained; its hash must match).")


def register(app: typer.Typer) -> None:
    @app.command("chat")
    def chat(
        model: str = typer.Argument(..., help="Adapter in the vault, e.g. adapter or adapter@2."),
        system: str = typer.Option(None, "--system", help="System prompt."),
        max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, max=4096),
        base: Path = BaseOpt,
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Talk to base + adapter interactively (/reset clears the history, /exit or Ctrl-D quits)."""
        from privtune.gate.adapters import open_adapter
        from privtune.pipeline.adapters import ChatSession

        with open_workspace(workspace) as ws, open_adapter(ws.vault, model, base) as (m, tok, info):
            session = ChatSession(m, tok, system, max_new_tokens)
            console.print(f"chatting with {info.ref} (offline). /reset, /exit")
            while True:
                try:
                    text = input("you> ")
                except EOFError:
                    break
                if text.strip() in ("/exit", "/quit"):
                    break
                if text.strip() == "/reset":
                    session.reset()
                    continue
                if text.strip():
                    console.print(f"model> {session.ask(text)}", highlight=False, markup=False)

    @app.command("generate")
    def generate(
        model: str = typer.Argument(..., help="Adapter in the vault, e.g. adapter or adapter@2."),
        prompts: Path = typer.Option(..., "--prompts", help="Prompts: .jsonl of {prompt} or "
                                     "{messages}, or text with one prompt per line."),
        out: Path = typer.Option(None, "--out", help="Write JSONL answers here (default: stdout)."),
        max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, max=4096),
        base: Path = BaseOpt,
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Answer every prompt of a file with base + adapter (greedy, reproducible)."""
        from privtune.fsutil import atomic_write_text
        from privtune.pipeline.adapters import generate_batch, read_prompts

        convs = read_prompts(prompts)
        with open_workspace(workspace) as ws:
            answers = generate_batch(ws, model, convs, base=base, max_new_tokens=max_new_tokens)
        # each answer next to its prompt (the last user message of the conversation)
        lines = [json.dumps({"index": i, "prompt": next((m["content"] for m in reversed(c)
                                                         if m.get("role") == "user"), ""),
                             "answer": a}, ensure_ascii=False)
                 for i, (c, a) in enumerate(zip(convs, answers))]
        if out is None:
            for line in lines:
                typer.echo(line)
        else:
            atomic_write_text(out, "\n".join(lines) + "\n")
            console.print(f"{len(lines)} answers -> {out}")

    @app.command("export")
    def export(
        model: str = typer.Argument(..., help="Adapter in the vault, e.g. adapter or adapter@2."),
        out: Path = typer.Option(..., "--out", "-o", help="New (or empty) output directory."),
        merged: bool = typer.Option(False, "--merged", help="Merge the adapter into the base "
                                    "weights (a full model) instead of adapter-only."),
        unaudited: bool = typer.Option(False, "--unaudited", help="Admin only: export a model "
                                       "that was not released (audited as "
                                       "model.export_unaudited, marked in its model card)."),
        base: Path = BaseOpt,
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Write a released model as a Hugging Face directory (adapter-only or merged) with a
        model card. A model that was not released (or was revoked or quarantined) is refused
        (exit 8) unless an admin passes --unaudited."""
        from privtune.pipeline.adapters import export_adapter

        with open_workspace(workspace) as ws:
            dest = export_adapter(ws, model, out, merged=merged, base=base, unaudited=unaudited)
        console.print(f"exported {'merged model' if merged else 'adapter'}"
                      f"{' (UNAUDITED)' if unaudited else ''} -> {dest}")
