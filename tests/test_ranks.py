"""Ranked leaderboard: ranks by the primary metric with CI ties, best bold / second underlined,
the ``primary`` suite key, and sortable HTML tables."""

from __future__ import annotations

import math

import pytest

from qbench.report import load_report_data, write_reports
from qbench.report.ranks import ranks

from .test_report import build_store

NAN = math.nan


def test_ranks_share_a_rank_when_intervals_overlap():
    values = [30.0, 29.9, 25.0, NAN, 20.0]
    cis = [(29.5, 30.5), (29.4, 30.4), (24.0, 26.0), (NAN, NAN), (19.0, 21.0)]
    assert ranks(values, cis, True) == [1, 1, 3, None, 4]
    # lower is better: the order turns round, the overlapping pair still ties
    assert ranks(values, cis, False) == [3, 3, 2, None, 1]
    # no intervals: only equal values tie
    assert ranks([2.0, 2.0, 1.0], [(NAN, NAN)] * 3, True) == [1, 1, 3]


def test_marks_bold_the_best_and_underline_the_second_value_whatever_the_intervals():
    from qbench.report.ranks import marks

    assert marks([30.0, 29.9, 25.0, NAN], True) == ["best", "second", "", ""]
    assert marks([0.3, 0.2, 0.2, 0.5], False) == ["second", "best", "best", ""]      # equal values alike


def _model(out, primary=None):
    from qbench.report.aggregate import ReportOptions, compute_aggregates
    from qbench.report.model import build_model

    data = load_report_data(out)
    if primary:
        data.suite["primary"] = primary
    return build_model(data, compute_aggregates(data, ReportOptions.of(data.suite)))


def test_point_ranks_order_solvers_by_the_primary_metric(tmp_path):
    build_store(tmp_path)
    model = _model(tmp_path)
    assert model.primary == "psnr_y"                       # default: the suite's first metric
    pts = model.point_ranks
    first = pts[(pts["codec"] == "jpeg") & (pts["quality"] == 10.0)]
    assert list(first["rank"])[0] == 1 and first["value"].is_monotonic_decreasing
    lower = _model(tmp_path, primary="lpips").point_ranks          # lower is better: ascending values
    part = lower[(lower["codec"] == "jpeg") & (lower["quality"] == 10.0)]
    assert part["value"].is_monotonic_increasing and model.overall_ranks["solver"].nunique() == 2


def test_markdown_and_html_mark_best_bold_and_second_underlined(tmp_path):
    build_store(tmp_path)
    write_reports(tmp_path, ("md", "html"))
    md = (tmp_path / "leaderboard.md").read_text()
    section = md[md.index("## Ranking by psnr_y"):md.index("## Overall ranking by psnr_y")]
    rows = [line for line in section.splitlines() if line.startswith("| ds")]
    assert rows and "**" in rows[0] and "<u>" not in rows[0] and "<u>" in rows[1] and "**" not in rows[1]
    assert "## Overall ranking by psnr_y" in md
    page = (tmp_path / "leaderboard.html").read_text()
    ranking = page[page.index("<table class='ranking'>"):]
    ranking = ranking[:ranking.index("</table>")]
    assert "<thead>" in ranking and "<strong>" in ranking and "<div id='filters'>" in page


def test_results_json_holds_the_ranks(tmp_path):
    import json

    build_store(tmp_path)
    write_reports(tmp_path, ("json",))
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["primary"] == "psnr_y" and doc["ranks"][0]["rank"] == 1
    assert {r["solver"] for r in doc["overall_ranks"]} == {"identity", "sharp"}


def test_primary_key_is_validated_and_leaves_the_suite_hash_alone():
    from qbench.errors import SuiteError
    from qbench.suite import parse_suite

    base = {"name": "p", "datasets": ["embedded"], "codecs": [{"name": "jpeg", "qualities": [20]}],
            "solvers": ["identity"], "metrics": ["psnr_rgb", "ssim_y"]}
    assert parse_suite(base | {"primary": "ssim_y"}).hash() == parse_suite(base).hash()
    with pytest.raises(SuiteError, match="did you mean 'ssim_y'"):
        parse_suite(base | {"primary": "ssim_yy"})
