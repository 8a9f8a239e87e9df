"""Reports built from the results store only: leaderboard (Markdown, HTML), CSV and JSON tables,
RD figures. ``load_report_data`` reads the store, ``write_reports`` writes every file."""

from .aggregate import bootstrap_ci, summarize
from .data import ReportData, load_report_data
from .write import write_reports

__all__ = ["ReportData", "bootstrap_ci", "load_report_data", "summarize", "write_reports"]
