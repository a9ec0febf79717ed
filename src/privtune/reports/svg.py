"""Tiny dependency-free SVG line charts for HTML reports (loss curves)."""

from __future__ import annotations

from html import escape


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    width: int = 640,
    height: int = 260,
    x_label: str = "step",
    y_label: str = "loss",
) -> str:
    """An inline SVG with one polyline per named series of (x, y) points."""
    colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"]
    pts = [p for s in series.values() for p in s]
    if not pts:
        return "<p><em>no data</em></p>"
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs) or 1.0
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    pad_l, pad_r, pad_t, pad_b = 50, 16, 30, 40

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def sy(y: float) -> float:
        return pad_t + (1 - (y - y0) / (y1 - y0)) * (height - pad_t - pad_b)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'role="img" aria-label="{escape(y_label)} by {escape(x_label)}">']
    out.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>')
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" '
                   'stroke="#e5e7eb"/>')
        out.append(f'<text x="{pad_l - 6}" y="{sy(yv) + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{yv:.2f}</text>')
    for i in range(6):
        xv = x0 + (x1 - x0) * i / 5
        xv = round(xv) if x1 - x0 >= 10 else round(xv, 2)
        out.append(f'<text x="{sx(xv):.1f}" y="{height - pad_b + 14}" font-size="11" '
                   f'text-anchor="middle">{xv:g}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 6}" font-size="12" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    for i, (name, s) in enumerate(series.items()):
        if not s:
            continue
        color = colors[i % len(colors)]
        poly = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{poly}"/>')
        out.append(f'<text x="{pad_l + 10 + 120 * i}" y="{pad_t - 12}" font-size="12" '
                   f'fill="{color}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
