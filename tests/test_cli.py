import subprocess
import sys

from .conftest import REPO


def test_ls_and_validate_do_not_import_torch():
    code = ("import sys; from click.testing import CliRunner; from qbench.cli import main; "
            "r = CliRunner().invoke(main, ['ls', 'solvers']); assert r.exit_code == 0, r.output; "
            "assert 'identity' in r.output; "
            "r = CliRunner().invoke(main, ['ls', 'diagnostics']); assert r.exit_code == 0, r.output; "
            "assert 'residual' in r.output and 'disc_conditional' in r.output; "
            "r = CliRunner().invoke(main, ['ls', 'stratifiers']); assert 'defocus' in r.output, r.output; "
            f"r = CliRunner().invoke(main, ['validate', r'{REPO / 'suites' / 'quickstart.yaml'}']); "
            "assert r.exit_code == 0, r.output; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_help_everywhere():
    for args in ([], ["run"], ["measure"], ["ls"], ["validate"], ["report"], ["data"], ["diagnose"], ["compare"], ["check"],
                 ["leaderboards"], ["weights"]):
        proc = subprocess.run([sys.executable, "-m", "qbench.cli", *args, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "Usage" in proc.stdout


def test_every_shipped_suite_parses():
    from qbench.suite import load_suite

    for path in sorted((REPO / "suites").glob("*.yaml")):
        load_suite(path)


def test_every_shipped_suite_validates():
    """Names, parameters and anchors of every shipped suite resolve (what 'qbench validate' checks;
    metrics whose weights are absent here are reported as skipped, not as errors)."""
    from click.testing import CliRunner

    from qbench.cli import main

    for path in sorted((REPO / "suites").glob("*.yaml")):
        r = CliRunner().invoke(main, ["validate", str(path)])
        assert r.exit_code == 0, (path.name, r.output)


def test_missing_dataset_exits_3_with_where_to_put_files(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "qbench.cli", "run", str(REPO / "suites" / "jpeg_div2k.yaml"),
                           "--out", str(tmp_path / "o"), "--data-root", str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert proc.returncode in (2, 3) and "div2k_valid" in proc.stderr and "0801.png" in proc.stderr
    assert "Traceback" not in proc.stderr
