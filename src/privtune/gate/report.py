"""The audit's HTML page: the verdict table, canary exposure, ROC curves of the membership
attacks, extraction and prompt-attack counts with masked examples. Rendered from the verdict
document only (numbers, metric names, masked shapes), through the reports package's Jinja2
environment and SVG charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privtune import __version__
from privtune.fsutil import atomic_write_text
from privtune.reports.html import _env, _fmt
from privtune.reports.svg import line_chart


def roc_chart(rocs: dict[str, list[tuple[float, float]]]) -> str:
    series = {"chance": [(0.0, 0.0), (1.0, 1.0)]}
    series.update({name: list(pts) for name, pts in rocs.items()})
    return line_chart(series, x_label="false positive rate (held-out employees)",
                      y_label="true positive rate (training employees)")


def exposure_chart(canaries: list[dict[str, Any]]) -> str:
    pts = sorted((float(c["repetitions"]), float(c["exposure"])) for c in canaries)
    cap = max((float(c["max_exposure"]) for c in canaries), default=0.0)
    if not pts:
        return ""
    xs = [p[0] for p in pts]
    return line_chart({"exposure (bits)": pts, "maximum (log2 of the space)": [(min(xs), cap), (max(xs), cap)]},
                      x_label="repetitions of the canary in the training set", y_label="bits")


def render_audit_report(path: Path, verdict: dict[str, Any],
                        rocs: dict[str, list[tuple[float, float]]]) -> Path:
    d = verdict["details"]
    html = _env.get_template("audit.html.j2").render(
        v=verdict, d=d, version=__version__, fmt=_fmt,
        roc=roc_chart(rocs) if rocs else "", exposure=exposure_chart(d.get("canaries") or []),
    )
    atomic_write_text(path, html)
    return path
