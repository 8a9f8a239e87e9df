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


SHARPEN_SRC = '''
from qbench.solvers import Context, Enhancer, SolverCard

from .kernels import blur


class Sharpen(Enhancer):
    card = SolverCard(name="my_sharpen", task="enhance", blind=True)
    defaults = {"amount": 0.3}

    def enhance(self, batch, ctx: Context):
        return batch + float(self.params["amount"]) * (batch - blur(batch))
'''

KERNELS_SRC = '''
def blur(batch):
    import torch.nn.functional as F

    return F.avg_pool2d(batch, 3, stride=1, padding=1, count_include_pad=False)
'''


def write_user_package(folder, name: str):
    """A solver package the way a user keeps one: a folder in their project, not installed."""
    pkg = folder / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sharpen.py").write_text(SHARPEN_SRC)
    (pkg / "kernels.py").write_text(KERNELS_SRC)
    return pkg


def isolate_imports(monkeypatch):
    from qbench import registry

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(registry, "_SUITE_FOLDERS", [])


def test_import_string_solver_from_the_suite_folder_or_the_working_directory(image_folder, tmp_path,
                                                                              monkeypatch):
    """``my_pkg.sharpen:Sharpen`` next to the suite file, or in the working directory, without
    PYTHONPATH; it is labelled by its card name in the reports."""
    from click.testing import CliRunner

    from qbench.cli import main

    isolate_imports(monkeypatch)
    project = tmp_path / "project"
    write_user_package(project, "user_pkg_a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    suite = project / "suite.yaml"
    suite.write_text(yaml.safe_dump(basic_suite(image_folder, solvers=["identity", "user_pkg_a.sharpen:Sharpen"])))
    run = CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "o1"), "--workers", "0", "--quiet"])
    assert run.exit_code == 0, run.output
    summary = pd.read_csv(tmp_path / "o1" / "summary.csv")
    assert set(summary["solver"]) == {"identity", "my_sharpen"}
    a = summary.set_index(["solver", "quality"])["psnr_y"]
    assert a[("my_sharpen", 10)] != a[("identity", 10)]
    assert "my_sharpen" in (tmp_path / "o1" / "leaderboard.md").read_text()

    write_user_package(elsewhere, "user_pkg_b")         # the working directory, the suite elsewhere
    other = tmp_path / "suites" / "s.yaml"
    other.parent.mkdir()
    other.write_text(yaml.safe_dump(basic_suite(image_folder, solvers=["user_pkg_b.sharpen:Sharpen"])))
    run = CliRunner().invoke(main, ["run", str(other), "--out", str(tmp_path / "o2"), "--workers", "0", "--quiet"])
    assert run.exit_code == 0, run.output
    assert set(pd.read_csv(tmp_path / "o2" / "summary.csv")["solver"]) == {"my_sharpen"}


def test_import_string_not_found_says_where_it_looked(image_folder, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from qbench.cli import main

    isolate_imports(monkeypatch)
    monkeypatch.chdir(tmp_path)
    suite = tmp_path / "suites" / "s.yaml"
    suite.parent.mkdir()
    suite.write_text(yaml.safe_dump(basic_suite(image_folder, solvers=["user_pkg_nowhere.sharpen:Sharpen"])))
    res = CliRunner().invoke(main, ["validate", str(suite)])
    assert res.exit_code == 2
    assert "No module named 'user_pkg_nowhere'" in res.output
    assert f"the suite's folder {suite.parent.resolve()}" in res.output
    assert f"the working directory {tmp_path.resolve()}" in res.output and "Python path" in res.output
