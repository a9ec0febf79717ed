"""The ``privtune`` command: a thin typer layer over the library API.

``run()`` is the console entry point. It turns every :class:`PrivtuneError` into one line on
stderr and its exit code; any other exception is reported as an internal error, also on one
line. A traceback is shown only with ``--debug`` (or PRIVTUNE_DEBUG=1).
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from typing import Any

import typer
from rich.markup import escape

from privtune import __version__
from privtune.cli import (
    access_cmd,
    adapter_cmd,
    alerts_cmd,
    audit_cmd,
    backup_cmd,
    config_cmd,
    console_cmd,
    data_cmd,
    demo_cmd,
    dp_cmd,
    federated_cmd,
    incident_cmd,
    keys_cmd,
    lineage_cmd,
    model_cmd,
    pii_cmd,
    policy_cmd,
    privacy_audit_cmd,
    release_cmd,
    run_cmd,
    schema_cmd,
    serve_cmd,
    subject_cmd,
    synth_cmd,
    train_cmd,
    vault_cmd,
    workspace_cmd,
)
from privtune.cli.common import err_console
from privtune.errors import PrivtuneError

app = typer.Typer(
    name="privtune",
    help="Private, local fine-tuning of Mistral-family models on sensitive HR data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"privtune {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    """privtune: carry HR data to a fine-tuned local model without exposing anyone."""


workspace_cmd.register(app)
synth_cmd.register(app)
data_cmd.register(app)
model_cmd.register(app)
train_cmd.register(app)
adapter_cmd.register(app)
demo_cmd.register(app)
privacy_audit_cmd.register(app)
release_cmd.register(app)
serve_cmd.register(app)
app.add_typer(vault_cmd.app, name="vault")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(access_cmd.app, name="access")
app.add_typer(audit_cmd.app, name="audit-log")
app.add_typer(backup_cmd.app, name="backup")
app.add_typer(incident_cmd.app, name="incident")
app.add_typer(alerts_cmd.app, name="alerts")
lineage_cmd.register(app)
pii_cmd.register(app)
app.add_typer(dp_cmd.app, name="dp")
app.add_typer(policy_cmd.app, name="policy")
app.add_typer(subject_cmd.app, name="subject")
app.add_typer(subject_cmd.records_app, name="records")
app.add_typer(subject_cmd.retention_app, name="retention")
app.add_typer(schema_cmd.app, name="schema")
app.add_typer(federated_cmd.app, name="federated")  # issue 21
console_cmd.register(app)  # issue 22: the web console
# issue 18: the own-export path in one command, evaluate, the shipped configs
run_cmd.register(app)
app.add_typer(config_cmd.app, name="config")


def _unwrap(text: str) -> str:
    """Docstring paragraphs as one line each, so the help wraps them at the terminal's width
    instead of at the source's line breaks (a paragraph starting with \\b keeps its lines)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


def tidy_help(cmd: Any) -> Any:
    """Help texts that wrap at word boundaries, and flags shown without a type (no ``<bool>``)."""
    for sub in getattr(cmd, "commands", {}).values():
        tidy_help(sub)
    if cmd.help:
        cmd.help = _unwrap(cmd.help)
    return cmd


_typed = typer.core.TyperOption.display_type_rich


def _flag_without_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """A flag (--yes, --json, --help) takes no value: show no ``<bool>`` type next to it."""
    return None if self.is_flag else _typed(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]


def get_command() -> Any:
    """The ``privtune`` click command, help tidied."""
    return tidy_help(typer.main.get_command(app))


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("PRIVTUNE_DEBUG", "") not in ("", "0")


def run(argv: list[str] | None = None) -> int:
    """Console entry point; returns (and exits with) the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Whatever this process writes (the workspace, reports, a library's save_pretrained) is
    # readable by its owner only (issue 16, finding 10).
    umask = os.umask(0o077)
    try:
        return _run(argv)
    finally:
        os.umask(umask)  # an in-process caller (the tests) gets its own umask back


def _run(argv: list[str]) -> int:
    debug = _debug_requested(argv)
    if not debug:
        # Library deprecation chatter (transformers, peft) is noise for users; --debug shows it.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"(peft|transformers|torch)\.")
    command = get_command()
    try:
        command.main(args=argv, prog_name="privtune", standalone_mode=False)
        code = 0
    except PrivtuneError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        code = exc.exit_code
    except typer.Abort:
        err_console.print("aborted", highlight=False)
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors: typer prints them like click does
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:  # pragma: no cover
            err_console.print(f"error: {exc}", highlight=False)
        code = getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        code = 130
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__} (run again with --debug for "
            "the traceback)",
            highlight=False,
        )
        code = 70
    return code


def main() -> None:  # pragma: no cover
    sys.exit(run())
