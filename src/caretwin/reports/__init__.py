"""Self-contained HTML reports of simulation runs (open offline; plotly.js embedded once).

Usage::

    from caretwin.reports import ReportInput, write_report

    write_report(ReportInput(title=..., model_name=..., model_hash=..., results=...), path)
"""

from __future__ import annotations

from caretwin.reports.report import DISCLAIMER, ReportInput, render_report, write_report

__all__ = ["DISCLAIMER", "ReportInput", "render_report", "write_report"]
