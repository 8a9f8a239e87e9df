"""Cache keys carry each component's code: an edited plugin is recomputed, an unchanged one is not;
``--recompute`` drops one component's results."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from .conftest import REPO, basic_suite, save, smooth_image

SHARPEN = '''
from qbench.solvers import Context, Enhancer, SolverCard

from .kernels import blur


class Sharpen(Enhancer):
    card = SolverCard(name="sharpen_mine", task="enhance", blind=True)
    defaults = {"amount": 0.3}

    def enhance(self, batch, ctx: Context):
        return (batch + float(self.params["amount"]) * (batch - blur(batch))).clamp(0, 1)
'''

KERNELS = '''
def blur(batch):
    import torch.nn.functional as F

    return F.avg_pool2d(batch, 3, stride=1, padding=1, count_include_pad=False)
'''


def test_editing_a_plugin_between_runs_recomputes_it_and_only_it(tmp_path, monkeypatch):
    """Three runs of a suite naming a plugin from the user's folder: the second follows an edit to
    a module the plugin imports (its own package's ``kernels.py``), the third changes nothing.
    Between runs the plugin's modules and the hash cache are forgotten, as a new process would."""
    from click.testing import CliRunner

    from qbench import codeid, registry
    from qbench.cli import main

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(registry, "_SUITE_FOLDERS", [])
    project = tmp_path / "project"
    (project / "edit_pkg").mkdir(parents=True)
    (project / "edit_pkg" / "__init__.py").write_text("")
    (project / "edit_pkg" / "sharpen.py").write_text(SHARPEN)
    (project / "edit_pkg" / "kernels.py").write_text(KERNELS)
    for i in range(2):
        save(smooth_image(70 + i, 48, 64), project / "imgs" / f"{i}.png")
    suite = basic_suite(project / "imgs", solvers=["identity", "edit_pkg.sharpen:Sharpen"],
                        codecs=[{"name": "jpeg", "qualities": [20]}], metrics=["psnr_y"], anchor=None)
    (project / "suite.yaml").write_text(yaml.safe_dump(suite))
    out = project / "out"

    def run():
        for name in [m for m in sys.modules if m.split(".")[0] == "edit_pkg"]:
            monkeypatch.delitem(sys.modules, name)
        codeid.clear_cache()
        res = CliRunner().invoke(main, ["run", str(project / "suite.yaml"), "--out", str(out), "--workers", "0",
                                        "--quiet"])
        assert res.exit_code == 0, res.output
        return res.output, pd.read_csv(out / "summary.csv").set_index("solver")["psnr_y"]

    _, before = run()
    (project / "edit_pkg" / "kernels.py").write_text(
        KERNELS.replace("avg_pool2d(batch, 3, stride=1, padding=1", "avg_pool2d(batch, 5, stride=1, padding=2")
        + "# a wider blur\n")
    edited, after = run()
    assert "solver sharpen_mine: code changed since the stored results; its outputs are recomputed" in edited
    assert "solver identity" not in edited and "codec jpeg:" not in edited
    assert "nothing new" not in edited and "2 solver outputs" in edited       # 2 images x 1 point
    assert after["sharpen_mine"] != before["sharpen_mine"]
    assert after["identity"] == before["identity"]
    again, _ = run()
    assert "nothing new computed" in again and "since the stored results" not in again


@pytest.fixture
def two_images(tmp_path):
    for i in range(2):
        save(smooth_image(80 + i, 40, 56), tmp_path / "imgs" / f"{i}.png")
    return tmp_path / "imgs"


def brighten_suite(folder, **over):
    data = dict(solvers=["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "bright",
                                      "params": {"delta": 0.02}}],
                codecs=[{"name": "jpeg", "qualities": [20, 60]}], metrics=["psnr_y", "ssim_y"])
    return basic_suite(folder, **{**data, **over})


def test_unchanged_rerun_computes_nothing_and_reports_no_change(two_images, tmp_path):
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    first = Runner(parse_suite(brighten_suite(two_images)), tmp_path / "o", workers=0, progress=False).run()
    assert first.computed_anything and not first.changed
    again = Runner(parse_suite(brighten_suite(two_images)), tmp_path / "o", workers=0, progress=False).run()
    assert not again.computed_anything and not again.changed and not again.recomputed


def test_recompute_drops_one_component_only(two_images, tmp_path):
    from qbench.errors import ConfigError
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    out = tmp_path / "o"

    def run(*names):
        return Runner(parse_suite(brighten_suite(two_images)), out, workers=0, progress=False,
                      recompute=names).run()

    run()
    solver = run("bright")                          # 2 images x 2 points of one solver
    assert solver.outputs_computed == 4 and solver.encodings_computed == 0
    assert solver.metric_values_computed == 4 * 2 and solver.recomputed[0].startswith("solver bright: 4 stored")
    codec = run("jpeg")                             # bitstreams and everything made from them
    assert codec.encodings_computed == 4 and codec.outputs_computed == 4
    metric = run("ssim_y")
    assert (metric.encodings_computed, metric.outputs_computed) == (0, 0)
    assert metric.metric_values_computed == 4 * 2   # compressed and bright outputs, one metric
    assert not run().computed_anything              # a plain rerun computes nothing again
    with pytest.raises(ConfigError, match="did you mean 'bright'"):
        run("brigth")


def test_recompute_on_the_command_line(two_images, tmp_path, write_suite):
    from click.testing import CliRunner

    from qbench.cli import main

    path = write_suite(brighten_suite(two_images, metrics=["psnr_y"]))
    args = ["run", str(path), "--out", str(tmp_path / "o"), "--workers", "0", "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 0
    res = CliRunner().invoke(main, args + ["--recompute", "bright", "--recompute", "metric:psnr_y"])
    assert res.exit_code == 0, res.output
    assert "solver bright: 4 stored output(s) dropped" in res.output
    assert "metric psnr_y: " in res.output and "4 solver outputs" in res.output
    bad = CliRunner().invoke(main, args + ["--recompute", "nosuch"])
    assert bad.exit_code == 2 and "nosuch" in bad.output


def test_code_identity_follows_own_package_imports_and_is_stable_across_processes(tmp_path, monkeypatch):
    """The hash covers the defining module and the modules of its package it imports (even inside
    a function), not other packages; another process computes the same keys."""
    from qbench import codecs
    from qbench.codeid import code_identity, code_modules

    jpeg = codecs.build("jpeg", {}, [10])
    mods = code_modules(jpeg)
    assert {"qbench.codecs.base", "qbench.codecs.jpeg", "qbench.images"} <= set(mods)
    assert not any(m.startswith(("qbench.runner", "qbench.report", "qbench.store", "qbench.cli", "qbench.codecs.webp"))
                   or m in ("qbench", "qbench.codecs") for m in mods)     # harness, registries, other codecs
    pkg = tmp_path / "idpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sharpen.py").write_text(
        "from qbench.solvers import Enhancer, SolverCard\n\n\nclass Sharpen(Enhancer):\n"
        "    card = SolverCard(name='s', task='enhance')\n\n    def enhance(self, batch, ctx):\n"
        "        from .kernels import blur\n\n        return blur(batch)\n")
    (pkg / "kernels.py").write_text(KERNELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    from idpkg.sharpen import Sharpen

    assert {"idpkg.sharpen", "idpkg.kernels"} <= set(code_modules(Sharpen))
    assert not any(m.startswith("torch") for m in code_modules(Sharpen))
    here = {"jpeg": jpeg.spec(), "sharpen": code_identity(Sharpen)}
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); from qbench import codecs; "
              "from qbench.codeid import code_identity; from idpkg.sharpen import Sharpen; "
              "print(json.dumps({'jpeg': codecs.build('jpeg', {}, [10]).spec(), 'sharpen': code_identity(Sharpen)}))")
    other = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    import json

    assert json.loads(other.stdout) == json.loads(json.dumps(here))


def test_distribution_version_enters_the_identity(tmp_path, monkeypatch):
    """A plugin installed as a distribution: reinstalling it at another version changes its identity."""
    from qbench import codeid

    site = tmp_path / "lib" / "site-packages"
    (site / "distpkg").mkdir(parents=True)
    (site / "distpkg" / "__init__.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(site))

    def install(version):
        for old in site.glob("*.dist-info"):
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        info = site / f"distpkg-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: distpkg\nVersion: {version}\n")
        for fn in (codeid.distribution, codeid._class_identity):
            fn.cache_clear()

    from distpkg import Thing

    install("1.0")
    one = codeid.code_identity(Thing)
    install("1.1")
    two = codeid.code_identity(Thing)
    assert one["dist"] == ["distpkg==1.0"] and two["dist"] == ["distpkg==1.1"]
    assert one["code"] == two["code"]


def test_a_store_from_before_code_identities_says_it_is_recomputed(two_images, tmp_path):
    import json
    import sqlite3

    from qbench.runner import Runner
    from qbench.suite import parse_suite

    out = tmp_path / "o"
    Runner(parse_suite(brighten_suite(two_images)), out, workers=0, progress=False).run()
    db = sqlite3.connect(out / "results.sqlite")
    rows = [(k, label, json.loads(info)) for k, label, info in db.execute("SELECT kind, label, info FROM components")]
    for kind, label, info in rows:
        info.pop("code", None)
        db.execute("UPDATE components SET info=? WHERE kind=? AND label=?", (json.dumps(info), kind, label))
    db.commit()
    db.close()
    again = Runner(parse_suite(brighten_suite(two_images)), out, workers=0, progress=False).run()
    assert again.changed == ["the stored results were written before cache keys held each component's code "
                             "identity; they are computed again once"]


def test_a_library_metric_version_follows_the_library_release(monkeypatch):
    """pyiqa computes ``gmsd``: another pyiqa release gives another metric version."""
    from importlib import metadata

    from qbench import codeid
    from qbench.metrics import build

    first = build("gmsd").version
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == "pyiqa" else real(name))
    codeid.versions_of.cache_clear()
    try:
        assert build("gmsd").version != first
        assert build("psnr_y").version == build("psnr_y").version
    finally:
        monkeypatch.undo()
        codeid.versions_of.cache_clear()


def test_a_single_file_plugin_follows_its_sibling_helper_module(tmp_path, monkeypatch):
    """``solo_sharpen.py`` next to ``solo_helpers.py`` in the user's folder (two top-level modules):
    an edit to the helper, imported inside a function, changes the plugin's identity."""
    from qbench import codeid

    (tmp_path / "solo_sharpen.py").write_text(
        "from qbench.solvers import Enhancer, SolverCard\n\n\nclass Sharpen(Enhancer):\n"
        "    card = SolverCard(name='solo', task='enhance')\n\n    def enhance(self, batch, ctx):\n"
        "        import solo_helpers\n\n        return solo_helpers.blur(batch)\n")
    (tmp_path / "solo_helpers.py").write_text(KERNELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    from solo_sharpen import Sharpen

    codeid.clear_cache()
    assert {"solo_sharpen", "solo_helpers"} <= set(codeid.code_modules(Sharpen))
    one = codeid.code_identity(Sharpen)
    (tmp_path / "solo_helpers.py").write_text(KERNELS.replace("3,", "5,"))
    codeid.clear_cache()
    two = codeid.code_identity(Sharpen)
    assert one["code"] != two["code"] and one["dist"] == two["dist"] == []


def test_a_changed_solver_is_named_when_the_suite_also_has_published_references():
    """Reference rows of the components table carry no code identity; they must not hide changes."""
    from qbench.runner.resolve import changed_components

    before = {"solver": {"mine": {"code": "a", "dist": []}},
              "reference": {"vtm": {"path": "vtm.json", "sha256": "0" * 64}}}
    rows = [("solver", "mine", {"code": "b", "dist": []}),
            ("reference", "vtm", {"path": "vtm.json", "sha256": "1" * 64})]
    assert changed_components(before, rows) == [
        "solver mine: code changed since the stored results; its outputs are recomputed"]


def test_comments_docstrings_and_layout_do_not_change_the_identity_code_does(tmp_path, monkeypatch):
    """Rewording a docstring, adding a comment or blank lines, or re-indenting keeps a plugin's
    identity (its stored results stay valid); changing one number of its code changes it."""
    from qbench import codeid

    pkg = tmp_path / "docpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "kernels.py").write_text(KERNELS)
    sharpen = pkg / "sharpen.py"
    sharpen.write_text(SHARPEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    from docpkg.sharpen import Sharpen

    def identity():
        codeid.clear_cache()
        return codeid.code_identity(Sharpen)["code"]

    first = identity()
    edited = SHARPEN.replace("class Sharpen(Enhancer):\n",
                             '# a comment\n\nclass Sharpen(Enhancer):\n    """Unsharp masking.\n\n    Reworded."""\n\n')
    sharpen.write_text(edited)
    assert identity() == first
    sharpen.write_text(edited.replace("\n    ", "\n  ").replace("\n        ", "\n    "))   # two-space indent
    assert identity() == first
    sharpen.write_text(SHARPEN.replace('"amount": 0.3', '"amount": 0.4'))
    assert identity() != first
    sharpen.write_text(SHARPEN.replace('"amount"]) * (batch', '"amount"]) * ( batch'))   # spacing inside a line
    assert identity() == first
    (pkg / "kernels.py").write_text(KERNELS.replace("3, stride", "5, stride"))       # an imported module's code
    assert identity() != first
