"""Shared helpers for benchmarks: machine facts, writing JSON + a markdown table."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    facts: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        import torch
    except ImportError:  # the Presidio bench venv has no torch
        return facts
    return {**facts, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def write(name: str, data: dict[str, Any], rows: list[dict[str, Any]], columns: list[str]) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` (a markdown table of ``rows``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), **data, "rows": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    md = f"# {name}\n\n" + "\n".join(lines) + "\n"
    (RESULTS / f"{name}.md").write_text(md)
    print(md)
    return RESULTS / f"{name}.json"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
