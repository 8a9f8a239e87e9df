"""The report model: tables derived once, rendered by every format; sections in one list; no
report module reaching into another's private helpers."""

from __future__ import annotations

import ast
import cProfile
import pstats
from pathlib import Path

from qbench.report import write_reports

from .test_report import build_store

REPORT = Path(__file__).resolve().parents[1] / "qbench" / "report"


def test_no_report_module_imports_another_modules_private_names():
    bad = []
    for path in sorted(REPORT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                bad += [f"{path.name}: from {'.' * node.level}{node.module} import {a.name}"
                        for a in node.names if a.name.startswith("_")]
    assert bad == []


def test_every_derived_table_is_computed_once_for_all_formats(tmp_path):
    build_store(tmp_path)
    prof = cProfile.Profile()
    prof.runcall(write_reports, tmp_path)
    calls = {(Path(f).name, name): stats[1] for (f, _, name), stats in pstats.Stats(prof).stats.items()}
    for key in (("roles.py", "role_means"), ("triangle.py", "triangle_table"), ("branches.py", "branch_table"),
                ("plots.py", "plot_specs")):
        assert calls.get(key) == 1, (key, calls.get(key))
    for name in ("leaderboard.md", "leaderboard.html", "results.json"):
        assert (tmp_path / name).is_file()


def test_leaderboard_sections_follow_the_one_section_list(tmp_path):
    from qbench.report.aggregate import ReportOptions, compute_aggregates
    from qbench.report.data import load_report_data
    from qbench.report.model import build_model
    from qbench.report.sections import SECTIONS, leaderboard

    build_store(tmp_path)
    data = load_report_data(tmp_path)
    model = build_model(data, compute_aggregates(data, ReportOptions.of(data.suite)))
    doc = leaderboard(model)
    expected = [s.title for _, build in SECTIONS for s in build(model)]
    assert [s.title for s in doc.sections] == expected and len(expected) >= 5
