"""A third-party package registers a solver through the qbench.solvers entry-point group."""

import os
import subprocess
import sys

import pandas as pd
import yaml

from .conftest import REPO, basic_suite


def test_installed_plugin_is_discovered_and_runs_in_a_suite(image_folder, tmp_path):
    import shutil

    source = tmp_path / "plugin_src"          # build outside the repository
    shutil.copytree(REPO / "tests" / "plugin_example", source)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    ls = subprocess.run([sys.executable, "-m", "qbench.cli", "ls", "solvers"], capture_output=True, text=True,
                        env=env)
    assert "sharpen" in ls.stdout and "qbench-sharpen" in ls.stdout
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump(basic_suite(image_folder, solvers=["identity", "sharpen"])))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "qbench.cli", "run", str(suite), "--out", str(out), "--quiet",
                          "--workers", "0"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["solver"]) == {"identity", "sharpen"}
    a = summary.set_index(["solver", "quality"])["psnr_y"]
    assert a[("sharpen", 10)] != a[("identity", 10)]


def test_solver_by_import_string(image_folder, tmp_path):
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    data = basic_suite(image_folder, solvers=[{"name": "tests.solvers_for_tests:Brighten",
                                               "params": {"delta": 0.02}, "label": "bright"}])
    res = Runner(parse_suite(data), tmp_path / "o", workers=0, progress=False).run()
    assert not res.failures and res.outputs_computed == 8
