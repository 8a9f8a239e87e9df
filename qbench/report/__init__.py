"""Reporters: tables (summary/per-image CSV, JSON, Markdown leaderboard) built from the store."""

from .tables import ReportData, load_report_data, summarize, write_reports

__all__ = ["ReportData", "load_report_data", "summarize", "write_reports"]
