"""``qbench validate`` and friends: every problem of a suite in one pass, hostile YAML, plugins
that fail to import, parameter types of the built-in components, exit codes."""

from __future__ import annotations

import subprocess
import sys
import time

from click.testing import CliRunner

from qbench.cli import main


def _validate(path, *args):
    return CliRunner().invoke(main, ["validate", str(path), *args])


def alias_bomb(levels: int = 10, fan: int = 9) -> str:
    """A suite whose one solver parameter expands to fan**levels scalars."""
    lines = ["name: bomb", "datasets: [skimage-samples]", "codecs: [{name: jpeg, qualities: [10]}]",
             "metrics: [psnr_rgb]", "solvers:", "  - name: gaussian", "    params:",
             f"      sigma: &a0 [{', '.join(['x'] * fan)}]"]
    for i in range(1, levels):
        lines.append(f"      k{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_fast_with_exit_2(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    # in a subprocess with a memory cap, so a regression fails instead of eating the machine
    code = ("import resource,sys; resource.setrlimit(resource.RLIMIT_AS, (1500 << 20, 1500 << 20)); "
            "from qbench.cli import main; sys.argv=['qbench','validate',sys.argv[1]]; main()")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("validate did not finish within 60 s on an alias bomb") from None
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and "aliases" in proc.stderr
    assert time.perf_counter() - t0 < 30


def test_moderate_aliases_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: ok\ndatasets: [skimage-samples]\ncodecs:\n"
                    "  - {name: jpeg, qualities: &q [10, 20]}\n  - {name: webp, qualities: *q}\n"
                    "solvers: [identity]\nmetrics: [psnr_rgb]\n")
    res = _validate(path)
    assert res.exit_code == 0, res.output


def _plugin_suite(tmp_path, module: str) -> str:
    path = tmp_path / "plugin.yaml"
    path.write_text(f"name: plug\ndatasets: [skimage-samples]\ncodecs: [{{name: jpeg, qualities: [10]}}]\n"
                    f"solvers: [identity, '{module}:Sharpen']\nmetrics: [psnr_rgb]\n")
    return str(path)


def test_plugin_with_syntax_error_exits_2_naming_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "qb_plug_syntax.py").write_text("import math\n\ndef broken(:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = _validate(_plugin_suite(tmp_path, "qb_plug_syntax"))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    assert f"{tmp_path / 'qb_plug_syntax.py'}:3" in res.output and "SyntaxError" in res.output


def test_plugin_raising_at_import_exits_2_naming_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "qb_plug_raise.py").write_text(
        "import os\n\n\ndef load():\n    raise RuntimeError('needs a GPU')\n\n\nMODEL = load()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = _validate(_plugin_suite(tmp_path, "qb_plug_raise"))
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    assert f"{tmp_path / 'qb_plug_raise.py'}:5" in res.output and "RuntimeError" in res.output
    assert "needs a GPU" in res.output


def test_weights_path_of_unknown_name_is_a_bad_name_exit_2():
    res = CliRunner().invoke(main, ["weights", "path", "nosuch"])
    assert res.exit_code == 2, res.output
    assert "no weight file matches 'nosuch'" in res.output
    res = CliRunner().invoke(main, ["weights", "path", "lpip"])
    assert res.exit_code == 2 and "did you mean 'lpips'" in res.output, res.output


def test_workers_minus_one_means_one_per_core_and_below_is_refused(tmp_path):
    import os

    from qbench.errors import ConfigError
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    suite = parse_suite({"name": "w", "datasets": ["skimage-samples"], "codecs": [{"name": "jpeg", "qualities": [10]}],
                         "solvers": ["identity"], "metrics": ["psnr_rgb"]})
    assert Runner(suite, tmp_path / "a", workers=-1, progress=False).workers == (os.cpu_count() or 1)
    assert Runner(suite, tmp_path / "b", workers=0, progress=False).workers == 0
    try:
        Runner(suite, tmp_path / "c", workers=-2, progress=False)
    except ConfigError as exc:
        assert "-1" in str(exc)
    else:
        raise AssertionError("workers=-2 accepted")
    res = CliRunner().invoke(main, ["run", "nosuch.yaml", "--workers", "-2"])
    assert res.exit_code == 2 and "-2" in res.output


BAD_SUITE = """\
name: many
datasets: [skimage-samples, {name: skimage-samples, limt: 3, label: x}]
codecs:
  - {name: jpeg, qualty: [10, 20]}
  - {name: webp, qualities: [50], params: {methd: 4}}
solvers:
  - identity
  - {name: gaussian, params: {sigma: "abc"}}
  - gausian
metrics: [psnr_rgb, psnr_yy]
anchor: jpg
"""


def test_validate_reports_every_problem_in_one_pass_with_did_you_mean(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(BAD_SUITE)
    res = _validate(path)
    assert res.exit_code == 2, res.output
    out = res.output
    expected = [
        "datasets[1].limt: unknown key; did you mean 'limit'?",
        "datasets[1].label: unknown key",
        "codecs[0].qualty: unknown key; did you mean 'qualities'?",
        "datasets: duplicate datasets entries ['skimage-samples']",
        "anchor: anchor 'jpg' is not one of the codecs ['jpeg', 'webp']; did you mean 'jpeg'?",
        "codecs[1].params.methd: codec 'webp': unknown parameter(s) ['methd']; did you mean 'method'?",
        "solvers[1].params.sigma: solver 'gaussian': parameter 'sigma' must be a number",
        "solvers[2].name: unknown solver 'gausian'; did you mean 'gaussian'?",
        "metrics[1].name: unknown metric 'psnr_yy'; did you mean 'psnr_y'",
    ]
    for line in expected:
        assert line in out, (line, out)
    assert out.startswith(f"qbench: error: {path}: {len(expected)} problems")


def test_builtin_parameter_types_are_checked_at_construction():
    import pytest

    from qbench import codecs, solvers
    from qbench.errors import ConfigError

    with pytest.raises(ConfigError, match="'sigma' must be a number .*got str 'abc'") as exc:
        solvers.build("gaussian", {"sigma": "abc"})
    assert exc.value.key == "sigma"
    for name, params in [("bilateral", {"diameter": 2.5}), ("nlm", {"search": "9"}), ("bicubic", {"scale": "2"}),
                         ("dct_deblock", {"iterations": True}), ("fbcnn_color", {"qf": "10"}),
                         ("matlab_bicubic", {"scale": [2]}), ("irn_x2", {"gaussian_scale": None})]:
        with pytest.raises(ConfigError, match="must be"):
            solvers.build(name, params)
    for name, params in [("jpeg", {"optimize": "yes"}), ("webp", {"method": 4.5}), ("avif", {"speed": "6"}),
                         ("jxl", {"effort": None}), ("external", {"encode": ["x"], "decode": ["y"], "timeout": "1"})]:
        with pytest.raises(ConfigError, match="must be"):
            codecs.build(name, params)
    # a number where the default is a float, an int where it is an int, None where None is the default
    solvers.build("gaussian", {"sigma": 2})
    solvers.build("fbcnn_color", {"qf": None})
    codecs.build("webp", {"method": 6})
    codecs.build("external", {"encode": ["x"], "decode": ["y"], "timeout": 1.5})


def test_validate_warns_when_solver_or_metric_weights_are_missing(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: w\ndatasets: [skimage-samples]\ncodecs: [{name: jpeg, qualities: [10]}]\n"
                    "solvers: [identity, fbcnn_color]\nmetrics: [psnr_rgb, lpips]\n")
    res = _validate(path)
    assert res.exit_code == 0, res.output
    assert "solvers[1] will fail the jobs that need its missing weights" in res.output
    assert "fbcnn_color.pth" in res.output
    assert "metrics[1].name will be skipped" in res.output


PLUGIN = '''\
from qbench.solvers import Enhancer, SolverCard


def smooth(batch):
    raise ValueError("kernel size must be odd")


class Broken(Enhancer):
    card = SolverCard(name="broken", task="enhance")

    def enhance(self, batch, ctx):
        return smooth(batch)
'''


def test_solver_exception_is_reported_once_per_kind_with_count_and_user_frame(tmp_path, monkeypatch):
    (tmp_path / "qb_broken_solver.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = tmp_path / "s.yaml"
    suite.write_text("name: broken\ndatasets: [{name: skimage-samples, limit: 2}]\n"
                     "codecs: [{name: jpeg, qualities: [10, 30]}]\n"
                     "solvers: [identity, 'qb_broken_solver:Broken']\nmetrics: [psnr_rgb]\n")
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(suite), "--out", str(out), "--workers", "0", "--quiet"])
    assert res.exit_code == 1, res.output
    site = f"{tmp_path / 'qb_broken_solver.py'}:5 (in smooth)"
    lines = [ln for ln in res.output.splitlines() if "kernel size must be odd" in ln]
    assert len(lines) == 1, res.output                     # once, not once per sample
    assert "×4" in lines[0] and site in lines[0] and "[solve] broken" in lines[0]
    md = (out / "leaderboard.md").read_text()
    section = md[md.index("## Failures (4)"):]
    assert section.count("kernel size must be odd") == 3    # the summary, the raising line, the last line
    assert "4 × solve: ValueError: kernel size must be odd" in section
    assert "```text" in section and 'line 5, in smooth' in section and "Traceback" in section
    html = (out / "leaderboard.html").read_text()
    assert "<pre>" in html and "line 5, in smooth" in html


def test_unknown_dataset_parameters_get_a_did_you_mean(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(f"name: d\ndatasets: [{{name: folder, params: {{pth: {tmp_path}}}}}, "
                    "{name: kodak, params: {rot: /nowhere}}]\n"
                    "codecs: [{name: jpeg, qualities: [10]}]\nsolvers: [identity]\nmetrics: [psnr_rgb]\n")
    res = _validate(path)
    assert res.exit_code == 2, res.output
    assert "datasets[0].params.pth: dataset 'folder': unknown parameter(s) ['pth']; did you mean 'path'?" in res.output
    assert "datasets[1].params.rot: dataset 'kodak': unknown parameter(s) ['rot']; did you mean 'root'?" in res.output
