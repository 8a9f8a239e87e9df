"""Reports built from the results store only: leaderboard (Markdown, HTML), CSV and JSON tables,
RD figures. ``load_report_data`` reads the store, ``write_reports`` writes every file.

The names below are imported when first used, so a process that only draws figures (a child of
the figure pass, :mod:`qbench.report.figure_pass`) imports no more than its drawing needs."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOME = {"bootstrap_ci": ".aggregate", "summarize": ".aggregate", "ReportData": ".data",
         "load_report_data": ".data", "write_reports": ".write"}

__all__ = ["ReportData", "bootstrap_ci", "load_report_data", "summarize", "write_reports"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOME[name], __name__), name)
    globals()[name] = value
    return value
