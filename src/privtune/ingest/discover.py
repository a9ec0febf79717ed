"""Find the files of an HR export in one directory.

An export directory holds ``employees.<ext>`` (required) and optionally ``leave.<ext>``,
``reviews.jsonl``, ``tickets.jsonl``, ``pii_spans.jsonl`` (synthetic ground truth) and a
``policies/`` folder of Markdown files. ``<ext>`` is any of the formats ``read_table`` reads;
two formats of the same table (``employees.csv`` and ``employees.parquet``) are ambiguous and
an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from privtune.errors import InputError
from privtune.ingest.tables import TABLE_EXTENSIONS
from privtune.ingest.texts import TEXT_EXTENSIONS


@dataclass(frozen=True)
class ExportFiles:
    """Paths of the parts of one export; ``None`` (or empty) for the parts that are absent."""

    root: Path
    employees: Path
    leave: Path | None = None
    reviews: Path | None = None
    tickets: Path | None = None
    pii_spans: Path | None = None
    policies: tuple[Path, ...] = field(default_factory=tuple)

    def read_policies(self) -> dict[str, str]:
        """``{file stem: markdown text}`` of every policy file, in name order."""
        out: dict[str, str] = {}
        for p in self.policies:
            try:
                out[p.stem] = p.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError:
                raise InputError("not valid UTF-8", path=p) from None
        return out


def discover_export(directory: str | Path) -> ExportFiles:
    """Locate the export files in ``directory``; :class:`InputError` if no employees table."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError("export directory not found", path=root)
    employees = _find(root, "employees", TABLE_EXTENSIONS)
    if employees is None:
        raise InputError(
            "no employees table; expected one of "
            + ", ".join(f"employees{e}" for e in TABLE_EXTENSIONS),
            path=root,
        )
    pol_dir = root / "policies"
    policies = tuple(sorted(pol_dir.glob("*.md"))) if pol_dir.is_dir() else ()
    return ExportFiles(
        root=root,
        employees=employees,
        leave=_find(root, "leave", TABLE_EXTENSIONS),
        reviews=_find(root, "reviews", TEXT_EXTENSIONS),
        tickets=_find(root, "tickets", TEXT_EXTENSIONS),
        pii_spans=_find(root, "pii_spans", (".jsonl",)),
        policies=policies,
    )


def _find(root: Path, stem: str, extensions: tuple[str, ...]) -> Path | None:
    found = [root / f"{stem}{ext}" for ext in extensions if (root / f"{stem}{ext}").is_file()]
    if len(found) > 1:
        raise InputError(
            f"ambiguous: {', '.join(p.name for p in found)} all present; keep one", path=root
        )
    return found[0] if found else None
