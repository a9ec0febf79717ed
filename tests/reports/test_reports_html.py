"""HTML reports: figures rendered, values escaped, charts drawn from the data."""

from __future__ import annotations

import re
from pathlib import Path

from privtune.reports import line_chart, render_report


def test_line_chart_scales_points_into_the_box() -> None:
    svg = line_chart({"a": [(0, 1.0), (10, 3.0)], "b": [(5, 2.0)]}, width=200, height=100)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    polys = re.findall(r'points="([^"]+)"', svg)
    assert len(polys) == 2
    for poly in polys:
        for pt in poly.split():
            x, y = map(float, pt.split(","))
            assert 0 <= x <= 200 and 0 <= y <= 100
    # Higher loss is drawn higher up (smaller y).
    (x0, y0), (x1, y1) = [tuple(map(float, p.split(","))) for p in polys[0].split()]
    assert x1 > x0 and y1 < y0


def test_line_chart_without_data() -> None:
    assert "no data" in line_chart({"a": []})


def test_report_renders_and_escapes(tmp_path: Path) -> None:
    out = render_report(
        tmp_path / "r.html", title="t<script>", workspace="/w",
        created_at="now", stages={"train": {"final_val_loss": 2.5, "note": "<b>x</b>", "by": {"a": 1}}},
        verdicts=[{"name": "check", "ok": False, "detail": "d"}],
    )
    html = out.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "2.5" in html and "a: 1" in html and "FAIL" in html
