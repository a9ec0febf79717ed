"""Plots as inline SVG, rendered on the server: no script, no external asset, no style attribute
(the console's CSP allows neither inline styles nor scripts). Every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

#: Colours of successive series (presentation attributes, allowed under the CSP).
PALETTE = ("#1f5fa8", "#c0392b", "#27864a", "#8e44ad", "#d35400", "#555555")


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000 or a < 0.01:
        return f"{v:.2g}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, title: str,
               xlabel: str, ylabel: str, width: int = 520, height: int = 260,
               x_range: tuple[float, float] | None = None,
               y_range: tuple[float, float] | None = None, diagonal: bool = False) -> Markup:
    """Lines through ``(x, y)`` points, one per named series, with axes, ticks and a legend.
    ``diagonal`` draws y = x (a ROC curve's chance line). Non-finite points are dropped."""
    clean = [(name, [(float(x), float(y)) for x, y in pts
                     if math.isfinite(float(x)) and math.isfinite(float(y))])
             for name, pts in series]
    xs = [x for _, pts in clean for x, _ in pts]
    ys = [y for _, pts in clean for _, y in pts]
    x0, x1 = x_range or ((min(xs), max(xs)) if xs else (0.0, 1.0))
    y0, y1 = y_range or ((min(ys), max(ys)) if ys else (0.0, 1.0))
    if x1 <= x0:
        x1 = x0 + 1.0
    if y1 <= y0:
        y1 = y0 + (abs(y0) or 1.0)
    left, right, top, bottom = 56, 12, 28, 40
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{escape(title)}</title>",
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" '
           f'stroke="#999"/>']
    for t in _ticks(x0, x1):
        out.append(f'<line x1="{px(t):.1f}" y1="{top + ph}" x2="{px(t):.1f}" '
                   f'y2="{top + ph + 4}" stroke="#999"/>')
        out.append(f'<text x="{px(t):.1f}" y="{top + ph + 16}" font-size="10" '
                   f'text-anchor="middle">{_fmt(t)}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left - 4}" y1="{py(t):.1f}" x2="{left}" y2="{py(t):.1f}" '
                   f'stroke="#999"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 3:.1f}" font-size="10" '
                   f'text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{left + pw / 2:.0f}" y="{height - 6}" font-size="11" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{top + ph / 2:.0f}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + ph / 2:.0f})">{escape(ylabel)}</text>')
    if diagonal:
        out.append(f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(x1):.1f}" '
                   f'y2="{py(y1):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, (name, pts) in enumerate(clean):
        colour = PALETTE[i % len(PALETTE)]
        if len(pts) == 1:
            x, y = pts[0]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        elif pts:
            d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" '
                       f'points="{d}"/>')
        ly = top + 12 + 14 * i  # the legend, right-aligned inside the plot's top right
        out.append(f'<line x1="{left + pw - 22}" y1="{ly - 4}" x2="{left + pw - 6}" '
                   f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw - 26}" y="{ly}" font-size="10" '
                   f'text-anchor="end">{escape(name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text in it went through escape())


def budget_bar(spent: float, budget: float, *, width: int = 240, height: int = 16) -> Markup:
    """A horizontal bar: the share of ``budget`` spent (red once over)."""
    frac = 0.0 if budget <= 0 else max(0.0, spent / budget)
    w = min(1.0, frac) * width
    colour = "#c0392b" if frac > 1.0 else ("#d35400" if frac > 0.8 else "#27864a")
    label = f"epsilon {spent:.3g} of {budget:.3g} spent"
    return Markup(  # noqa: S704 (the label is escaped; the rest are numbers)
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bar" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(label)}</title>'
        f'<rect width="{width}" height="{height}" fill="#eee" stroke="#999"/>'
        f'<rect width="{w:.1f}" height="{height}" fill="{colour}"/></svg>')


def lineage_graph(nodes: Sequence[tuple[str, str]], edges: Sequence[tuple[str, str]], *,
                  width: int = 900) -> Markup:
    """A layered graph, left to right: ``nodes`` are ``(ref, kind)``, ``edges`` ``(parent,
    child)``. A node's column is its longest path from a root."""
    ids = [n for n, _ in nodes]
    kind = dict(nodes)
    parents: dict[str, list[str]] = {n: [] for n in ids}
    for a, b in edges:
        if a in parents and b in parents:
            parents[b].append(a)
    depth: dict[str, int] = {}

    def d(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n not in depth:
            ps = [p for p in parents[n] if p not in seen]
            depth[n] = 0 if not ps else 1 + max(d(p, seen | {n}) for p in ps)
        return depth[n]

    for n in ids:
        d(n)
    cols: dict[int, list[str]] = {}
    for n in ids:
        cols.setdefault(depth[n], []).append(n)
    ncol = max(cols) + 1 if cols else 1
    rows = max((len(v) for v in cols.values()), default=1)
    box_w, box_h, gap_y = 150, 26, 14
    col_w = max(box_w + 30, width // ncol)
    w = col_w * ncol
    h = rows * (box_h + gap_y) + 20
    pos = {n: (10 + c * col_w, 10 + i * (box_h + gap_y))
           for c, members in cols.items() for i, n in enumerate(members)}
    fills = {"table": "#fde2e2", "texts": "#fde2e2", "dataset": "#fde2e2",
             "examples": "#fff2cc", "adapter": "#dbeafe", "report": "#e5e7eb", "key": "#eee"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" width="{w}" '
           f'height="{h}" viewBox="0 0 {w} {h}"><title>lineage</title>']
    for a, b in edges:
        if a in pos and b in pos:
            (ax, ay), (bx, by) = pos[a], pos[b]
            out.append(f'<line x1="{ax + box_w}" y1="{ay + box_h / 2}" x2="{bx}" '
                       f'y2="{by + box_h / 2}" stroke="#888"/>')
    for n in ids:
        x, y = pos[n]
        label = n if len(n) <= 24 else n[:23] + "…"
        out.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="4" '
                   f'fill="{fills.get(kind[n], "#f3f4f6")}" stroke="#666"/>')
        out.append(f'<text x="{x + 6}" y="{y + 17}" font-size="11"><title>{escape(n)} '
                   f'({escape(kind[n])})</title>{escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text in it went through escape())
