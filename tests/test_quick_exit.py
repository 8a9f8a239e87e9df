"""The ``qbench`` console command ends with a quick exit: exit handlers run, the streams are
flushed and the status is the command's, but the interpreter's teardown of modules and objects
(about 0.25 s after a run) is skipped."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO

# a global whose finalizer prints during the interpreter's teardown, an exit handler registered
# while the command runs, then the console entry point with the given arguments
SCRIPT = """
import atexit, sys
import qbench.cli as cli

class Teardown:
    def __del__(self):
        print("teardown ran", flush=True)

KEEP = Teardown()
command = cli.main

def main():
    atexit.register(lambda: print("exit handler ran", flush=True))
    command()

cli.main = main
sys.argv = ["qbench", *sys.argv[1:]]
cli.entry()
"""


def _qbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, cwd=REPO)


def test_the_console_command_skips_the_interpreter_teardown_and_keeps_exit_handlers():
    proc = _qbench("validate", str(REPO / "suites" / "quickstart.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "exit handler ran" in proc.stdout
    assert "teardown ran" not in proc.stdout
    assert "quickstart" in proc.stdout + proc.stderr


def test_exit_statuses_and_output_survive_the_quick_exit(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncodecs: [{name: jpeg, qualities: [50]}]\nsolvers: [identity]\nmetrics: [no_such_metric]\n")
    proc = _qbench("validate", str(bad))
    assert proc.returncode == 2
    assert "no_such_metric" in proc.stderr and "exit handler ran" in proc.stdout
    proc = _qbench("ls", "solvers")                      # a long listing through a pipe arrives whole
    listing = subprocess.run([sys.executable, "-m", "qbench.cli", "ls", "solvers"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.replace("exit handler ran\n", "") == listing.stdout
    assert _qbench("--help").returncode == 0


def test_the_installed_command_uses_the_quick_exit():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["qbench"] == "qbench.cli:entry"
