"""The JPEG-only rows reproduce the artifact-removal literature to the printed precision."""

import json
from pathlib import Path

import pandas as pd
import pytest

from .conftest import REPO

GOLDEN = json.loads((Path(__file__).parent / "golden" / "jpeg_literature.json").read_text())
SHARED = REPO.parent / "shared" / "datasets"


def check(summary: pd.DataFrame, dataset: str) -> int:
    checked = 0
    for q, published in GOLDEN["values"][dataset].items():
        row = summary[(summary.dataset == dataset) & (summary.quality == float(q))]
        assert len(row) == 1, f"no {dataset} row at QF {q}"
        for metric, value in published.items():
            digits = GOLDEN["digits"][metric]
            got = round(float(row[metric].item()), digits)
            assert got == pytest.approx(value, abs=1e-9), f"{dataset} QF{q} {metric}: {got} != {value}"
            checked += 1
    return checked


@pytest.mark.parametrize("suite,dataset", [("jpeg_classic5", "classic5"), ("jpeg_live1", "live1_gray")])
def test_committed_leaderboards_match_the_literature(suite, dataset):
    summary = pd.read_csv(REPO / "leaderboards" / suite / "summary.csv")
    assert check(summary, dataset) >= 8


@pytest.mark.skipif(not (SHARED / "classic5").is_dir(), reason="local Classic5 copy not available")
def test_classic5_run_reproduces_the_literature(tmp_path):
    from qbench.report import load_report_data, summarize
    from qbench.runner import Runner
    from qbench.suite import load_suite

    suite = load_suite(REPO / "suites" / "jpeg_classic5.yaml")
    res = Runner(suite, tmp_path / "o", workers=0, progress=False, data_root=str(SHARED)).run()
    assert not res.failures
    summary, _ = summarize(load_report_data(tmp_path / "o"), n_boot=0)
    assert check(summary, "classic5") == 12
