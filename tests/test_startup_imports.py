"""Start-up stays light: the CLI, ``qbench validate`` and a run's set-up import no torch, pyiqa,
matplotlib or pandas until a component or a report needs them (each subprocess starts clean)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qbench.runner.environment import no_gpu_driver

HEAVY = ("torch", "pyiqa", "matplotlib", "pandas")
ROOT = Path(__file__).resolve().parents[1]


def _loaded_after(code: str, tmp_path: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter; the heavy modules loaded when it finished."""
    script = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cli(args: list[str]) -> str:
    return (f"from qbench.cli import main\n"
            f"try:\n    main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n")


def test_help_imports_nothing_heavy(tmp_path):
    assert _loaded_after(_cli(["--help"]), tmp_path) == []


def test_validate_imports_nothing_heavy(tmp_path):
    suite = str(ROOT / "suites" / "quickstart.yaml")
    assert _loaded_after(_cli(["validate", suite]), tmp_path) == []


@pytest.mark.skipif(not no_gpu_driver(), reason="a GPU driver is present: --device auto asks torch")
def test_run_setup_on_cpu_does_not_import_torch(tmp_path):
    """Resolving ``--device auto`` and setting up a JPEG-only run need no torch on a machine
    without a GPU driver (before, torch was imported just to learn that CUDA is absent)."""
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndatasets: [skimage-samples]\ncodecs:\n  - name: jpeg\n    qualities: [50]\n"
                     "solvers: [identity]\nmetrics: [psnr_rgb]\n")
    code = ("from qbench.runner import Runner\nfrom qbench.runner.resolve import check_suite_file\n"
            f"suite, _ = check_suite_file({str(suite)!r})\n"
            f"r = Runner(suite, {str(tmp_path / 'out')!r}, device='auto', workers=0, progress=False)\n"
            "assert r.device == 'cpu', r.device\n")
    assert _loaded_after(code, tmp_path) == []


@pytest.mark.parametrize("module,threads", [("torch", "torch.get_num_threads()"), ("cv2", "cv2.getNumThreads()")])
def test_worker_setup_defers_torch_and_opencv_and_still_sets_their_threads(tmp_path, module, threads):
    """A pool worker does not import torch (or OpenCV, whose row filter the SSIM kernels use) to
    set its thread count; when a component imports it later, the count is set then."""
    code = ("from qbench.runner.stages import init_worker\ninit_worker(1)\n"
            f"before = {module!r} in sys.modules\nimport {module}\n"
            f"print(json.dumps([before, {threads}]))\n")
    proc = subprocess.run([sys.executable, "-c", "import sys, json\n" + code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [False, 1]


def test_auto_device_agrees_with_torch():
    """The driver shortcut never hides a CUDA device torch would use."""
    import torch

    from qbench.runner.environment import resolve_device

    if no_gpu_driver():
        assert not torch.cuda.is_available()
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_worker_setup_limits_numpys_blas_threads(tmp_path):
    """numpy's OpenBLAS is loaded (one thread per core) before a pool worker starts; the worker
    set-up brings it to one thread, so two workers on two cores do not run four BLAS threads."""
    code = ("import numpy\nfrom qbench.runner.blas import blas_threads\n"
            "from qbench.runner.stages import init_worker\ninit_worker(1)\n"
            "print(json.dumps(list(blas_threads().values())))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", "import sys, json\n" + code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    if not counts:
        pytest.skip("no OpenBLAS mapped in this process (numpy built against another BLAS, or not Linux)")
    assert counts and all(c == 1 for c in counts), counts
