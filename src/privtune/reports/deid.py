"""HTML pages for ``privtune scan`` and ``privtune deidentify`` (counts and masked shapes only)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from privtune import __version__
from privtune.fsutil import atomic_write_text
from privtune.reports.html import _env, _fmt


def class_size_chart(class_sizes: dict[str, int], k: int, *, width: int = 640, height: int = 200) -> str:
    """An inline SVG bar chart: number of equivalence classes per class size (red below k)."""
    items = sorted((int(s), c) for s, c in class_sizes.items())
    if not items:
        return ""
    top = max(c for _, c in items)
    bw = max(4, (width - 60) // max(1, len(items)))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="equivalence classes by size">']
    for i, (size, count) in enumerate(items):
        h = (height - 50) * count / top
        x, y = 40 + i * bw, height - 30 - h
        color = "#dc2626" if size < k else "#2563eb"
        out.append(f'<rect x="{x}" y="{y:.1f}" width="{bw - 2}" height="{h:.1f}" fill="{color}"/>')
        out.append(f'<text x="{x + bw / 2 - 1:.1f}" y="{height - 16}" font-size="10" text-anchor="middle">{size}</text>')
        out.append(f'<text x="{x + bw / 2 - 1:.1f}" y="{y - 3:.1f}" font-size="10" text-anchor="middle">{count}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 2}" font-size="11" text-anchor="middle">'
               f'{escape("class size (red: below k)")}</text></svg>')
    return "".join(out)


def render_deid_report(path: Path, *, title: str, tables: dict[str, Any] | None = None,
                       texts: dict[str, Any] | None = None, verdict: dict[str, Any] | None = None,
                       search: dict[str, Any] | None = None, risk: dict[str, Any] | None = None,
                       outputs: dict[str, str] | None = None, policy: str = "",
                       class_sizes: dict[str, int] | None = None) -> Path:
    chart = class_size_chart(class_sizes or {}, int(verdict["k_target"]) if verdict else 1)
    html = _env.get_template("deid.html.j2").render(
        title=title, tables=tables or {}, texts=texts or {}, verdict=verdict, search=search,
        risk=risk or {}, outputs=outputs or {}, policy=policy, chart=chart, version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"), fmt=_fmt)
    atomic_write_text(path, html)
    return path
