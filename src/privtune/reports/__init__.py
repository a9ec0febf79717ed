"""HTML reports and figures. Reports hold counts and figures only, never personal data."""

from privtune.reports.deid import render_deid_report
from privtune.reports.html import render_report
from privtune.reports.svg import line_chart

__all__ = ["line_chart", "render_deid_report", "render_report"]
