"""Report set-up stays cheap: the sign test of gains needs no SciPy (whose ``scipy.stats`` import
cost a report about a second), and its exact integer arithmetic equals SciPy's binomial CDF."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qbench.stats import binomial_half_cdf, sign_test_p


@pytest.mark.parametrize("n", [1, 2, 5, 24, 101, 456, 2000])
def test_binomial_half_cdf_equals_scipy(n):
    from scipy.stats import binom

    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        assert binomial_half_cdf(k, n) == pytest.approx(float(binom.cdf(k, n, 0.5)), rel=1e-12, abs=1e-300)


def test_sign_test_p_imports_no_scipy(tmp_path):
    code = ("import sys, json, numpy as np\nfrom qbench.stats import sign_test_p\n"
            "p = sign_test_p([np.array([1.0, 2.0, -1.0, 3.0, 0.0]), np.zeros(3), np.array([])])\n"
            "print(json.dumps(['scipy.stats' in sys.modules, [None if np.isnan(v) else v for v in p]]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=True)
    imported, p = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not imported
    assert p == [pytest.approx(0.625), 1.0, None]          # k = 1 of n = 4: 2 * 5/16


def test_sign_test_of_a_large_sample():
    rng = np.random.default_rng(0)
    d = rng.normal(0.05, 1.0, 3000)
    from scipy.stats import binomtest

    k, n = int((d > 0).sum()), int((d != 0).sum())
    assert sign_test_p([d])[0] == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9)
