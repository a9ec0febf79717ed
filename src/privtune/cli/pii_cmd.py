"""``privtune pii detect``: JSONL texts in, JSONL PII spans out (the stable evaluation interface)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import typer

from privtune.errors import ConfigError, InputError

app = typer.Typer(help="Find personal data in free text.", no_args_is_help=True)


@app.command("detect")
def detect_cmd(
    input: Path | None = typer.Option(None, "--input", "-i", help="JSONL file of {\"id\", \"text\"} (default: stdin)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write JSONL here atomically (default: stdout)."),
    roster: Path | None = typer.Option(None, "--roster", "-r", help="Employees table (CSV/JSONL/Parquet) whose people to find."),
    types: str | None = typer.Option(None, "--types", help="Comma-separated entity types to keep (default: all)."),
    org_id: list[str] = typer.Option([], "--org-id", help="Extra identifier pattern LABEL=REGEX (repeatable); found as ORG_ID."),
    employee_id_regex: str | None = typer.Option(None, "--employee-id-regex", help="Regex of your employee ids (default E + 5 digits)."),
    ner: str | None = typer.Option(None, "--ner", help="Optional local NER model: spacy:<model>, gliner:<path> or transformers:<path>."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Processes to use."),
) -> None:
    """Read JSONL {"id","text"} lines and write {"id","spans":[{"start","end","type"}]} lines."""
    from privtune.fsutil import atomic_write
    from privtune.pii.detector import Detector
    from privtune.pii.patterns import DEFAULT_EMPLOYEE_ID_REGEX, PatternDetector
    from privtune.pii.recognizers.ner import load_ner_backend
    from privtune.pii.roster import Roster
    from privtune.pii.spans import ENTITY_TYPES
    from privtune.pii.stream import detect_jsonl

    wanted = None
    if types:
        wanted = [t.strip().upper() for t in types.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in ENTITY_TYPES]
        if unknown:
            raise ConfigError(f"unknown entity type(s) {', '.join(unknown)}; known: {', '.join(ENTITY_TYPES)}", key="types")
    org = {}
    for item in org_id:
        label, sep, regex = item.partition("=")
        if not sep or not label.strip() or not regex:
            raise ConfigError("--org-id must be LABEL=REGEX", key="org-id")
        org[label.strip()] = regex
    the_roster = None
    if roster is not None:
        from privtune.ingest import read_table

        if not roster.is_file():
            raise InputError("roster file not found", path=roster)
        # columns found through the schema mapping (inferred): any HRIS's names work
        the_roster = Roster.from_employees(read_table(roster), path=roster)
    patterns = PatternDetector(employee_id_regex or DEFAULT_EMPLOYEE_ID_REGEX, org)
    detector = Detector(the_roster, patterns=patterns, types=wanted, ner=load_ner_backend(ner) if ner else None)

    source = str(input) if input is not None else "<stdin>"
    if input is not None and not input.is_file():
        raise InputError("input file not found", path=input)
    stream = input.open(encoding="utf-8", errors="strict", newline=None) if input is not None else sys.stdin
    try:
        lines = detect_jsonl(_lines(stream, source), detector, workers=workers, source=source)
        if output is None:
            for line in lines:
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
        else:
            atomic_write(output, ((line + "\n").encode("utf-8") for line in lines), mode=0o600)
    finally:
        if input is not None:
            stream.close()


def _lines(stream: Iterable[str], source: str) -> Iterator[str]:
    lineno = 0
    try:
        for lineno, line in enumerate(stream, start=1):  # noqa: B007
            yield line
    except UnicodeDecodeError:
        raise InputError(f"line {lineno + 1}: not valid UTF-8", path=source) from None


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="pii")
