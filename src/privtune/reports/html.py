"""Rendering reports to HTML (jinja2 templates shipped in the package, autoescaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from privtune import __version__
from privtune.fsutil import atomic_write_text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) or "—"
    if value is None:
        return "—"
    return str(value)


_env = Environment(
    loader=PackageLoader("privtune.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(
    path: Path,
    *,
    title: str,
    stages: dict[str, dict[str, Any]],
    workspace: str,
    created_at: str,
    chart: str = "",
    verdicts: list[dict[str, Any]] | None = None,
) -> Path:
    html = _env.get_template("report.html.j2").render(
        title=title,
        stages=stages,
        workspace=workspace,
        created_at=created_at,
        chart=chart,
        verdicts=verdicts or [],
        version=__version__,
        fmt=_fmt,
    )
    atomic_write_text(path, html)
    return path
