"""Ctrl-C is never lost in a library that would swallow it (see qbench.runner.interrupts)."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from qbench.runner.interrupts import deferred_interrupt

from .conftest import REPO, basic_suite, save, smooth_image

SCRIPT = textwrap.dedent('''
    import importlib.abc, json, os, signal, sys, time

    class Swallow(importlib.abc.MetaPathFinder):
        """When triton's extension module is imported: a Ctrl-C arrives, and the import fails
        with an ImportError, as a pybind11 extension does when interrupted during its
        initialisation (torch's FLOP counter catches that ImportError)."""
        fired = False

        def find_spec(self, name, path, target=None):
            if name == "triton._C.libtriton" and not Swallow.fired:
                Swallow.fired = True
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    for _ in range(200):
                        time.sleep(0.001)
                except KeyboardInterrupt:
                    raise ImportError("initialization failed") from None
            return None

    sys.meta_path.insert(0, Swallow())
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    try:
        Runner(parse_suite(json.loads(sys.argv[1])), sys.argv[2], workers=0, progress=False, device="cpu").run()
        outcome = "completed"
    except KeyboardInterrupt:
        outcome = "interrupted"
    print(json.dumps({"outcome": outcome, "fired": Swallow.fired}))
''')


def test_ctrl_c_during_the_cost_probe_import_stops_the_run(tmp_path):
    """A Ctrl-C while the first cost probe imports torch's FLOP counter (which imports triton)
    stops the run; before, the interrupt became an ImportError torch swallowed and the run went on."""
    import json

    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed: torch's FLOP counter imports no extension that could swallow Ctrl-C")
    for i in range(2):
        save(smooth_image(80 + i, 48, 64), tmp_path / "imgs" / f"{i}.png")
    suite = basic_suite(tmp_path / "imgs", solvers=["identity", "gaussian"], codecs=[{"name": "jpeg", "qualities": [30]}],
                        metrics=["psnr_y"], anchor=None)
    p = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(suite), str(tmp_path / "out")], capture_output=True,
                       text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got == {"outcome": "interrupted", "fired": True}, p.stderr[-2000:]


def test_deferred_interrupt_raises_after_the_block_and_restores_the_handler():
    ran = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100):
                pass
            ran.append("rest of the block")
    assert ran == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with deferred_interrupt():                 # no interrupt: nothing raised
        ran.append("again")
    assert ran[-1] == "again"
