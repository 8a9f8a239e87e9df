"""The figure pass: figures are drawn with matplotlib's object API (a report never imports pyplot),
in child processes forked from a running forkserver (as after a pool run) or in this process,
with the same bytes either way; whatever fails in a child is drawn again here.

Each case runs in a fresh interpreter, so whether a forkserver runs (or pyplot was imported) does
not depend on the tests that ran before."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, smooth_image
from .test_panels import _run


def _small_run(tmp_path: Path) -> Path:
    """Two tiny images, JPEG at two points, identity and gaussian, PSNR and the residual
    diagnostic (the panel tests' run): an RD figure (PNG and SVG), a panel and a ratio histogram."""
    data = {"name": "figs", "datasets": [{"name": "folder", "params": {"path": str(tmp_path / "imgs")}}],
            "codecs": [{"name": "jpeg", "qualities": [10, 40]}], "solvers": ["identity", "gaussian"],
            "metrics": ["psnr_rgb"], "diagnostics": {"per_image": [{"name": "residual", "params": {"examples": 0}}]},
            "output": {"bootstrap": 20, "bd_bootstrap": 0}}
    return _run(tmp_path, data, {"imgs": {f"im{i}": smooth_image(70 + i, 48, 64) for i in range(2)}})


def _python(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter (in the repository, so children can import ``tests``);
    the JSON of its last line."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


FIGURES = ("rd_imgs_psnr_rgb.png", "rd_imgs_psnr_rgb.svg", "figures/panels/panel_imgs.png",
           "figures/residuals/ratio_hist_residual_imgs.png")

#: counts the drawings of each figure pass: [children, drawn in a child, drawn here]
COUNTING = """
import hashlib, json, os, sys
from pathlib import Path
from qbench.report.figure_pass import FigurePass
passes = []
_wait = FigurePass.wait
def _counted(self):
    _wait(self)
    passes.append([self.children, self.drawn_in_children, self.drawn_here])
FigurePass.wait = _counted
def digests(folder):
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.suffix in (".png", ".svg") and "cache" not in p.parts}
"""


def test_a_report_imports_no_pyplot(tmp_path):
    out = _small_run(tmp_path)
    code = ("import json, sys\nfrom qbench.report import write_reports\nfiles = write_reports(sys.argv[1])\n"
            "print(json.dumps({'pyplot': 'matplotlib.pyplot' in sys.modules,"
            " 'figure': 'matplotlib.figure' in sys.modules, 'files': [str(f) for f in files]}))")
    got = _python(code, str(out))
    assert got["figure"] and not got["pyplot"]
    for name in FIGURES:
        assert (out / name).is_file(), name


def test_figures_drawn_in_children_are_the_bytes_drawn_here(tmp_path):
    """The same report in this process (no forkserver) and, after a forkserver started, in
    children: every figure file is identical, the SVGs' fixed salt and date included (set after
    the forkserver started, so the children have them only from the report's process)."""
    out = _small_run(tmp_path)
    here, there = tmp_path / "here", tmp_path / "there"
    for dest in (here, there):
        shutil.copytree(out, dest, ignore=shutil.ignore_patterns("*.png", "*.svg", "report"))
    code = COUNTING + """
from functools import partial
import multiprocessing.forkserver
import matplotlib
from qbench.report import write_reports
from qbench.report.plots import PlotSpec, draw as draw_rd
from qbench.report.triangle import TriangleFigure, draw as draw_triangle
here, there = Path(sys.argv[1]), Path(sys.argv[2])
curves = tuple((f"curve {k}", (0.1, 0.4, 0.9), (30.0 + k, 33.0 + k, 36.0 + k)) for k in range(9))
rd = PlotSpec("d", "m", "rd_many", "t", "m", curves, (("pub", (0.2, 2.0), (31.0, 40.0)),), anchor="curve 1")
tri = TriangleFigure("d", "triangle_d", "t", (("fid", (("a", 0.9, 0.3, ""), ("b", 0.4, 0.0, "inequality"))),))
def report(folder, children):
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    with matplotlib.rc_context({"svg.hashsalt": "qbench"}):
        write_reports(folder)
        with FigurePass(children) as drawer:
            drawer.submit(partial(draw_rd, rd, folder))
            drawer.submit(partial(draw_triangle, tri, folder))
    del os.environ["SOURCE_DATE_EPOCH"]
assert FigurePass.for_report().children == 0        # no forkserver yet: drawn here
report(here, 0)
multiprocessing.forkserver.ensure_running()
report(there, 2)
print(json.dumps({"passes": passes, "here": digests(here), "there": digests(there)}))
"""
    got = _python(code, str(here), str(there))
    assert set(got["here"]) == set(FIGURES) | {"rd_many.png", "rd_many.svg", "triangle_d.png"}
    assert got["there"] == got["here"]
    cpus = os.cpu_count() or 1
    assert got["passes"] == [[0, 0, 3], [0, 0, 2], [cpus, 3, 0], [2, 2, 0]]   # report, extra figures
    svg = (there / "rd_imgs_psnr_rgb.svg").read_text()
    assert "<dc:date>1970-01-01T00:00:00+00:00</dc:date>" in svg


def test_a_figure_that_fails_in_a_child_behaves_as_drawn_here(tmp_path):
    """The gaussian outputs are damaged: the panel cannot be drawn, and is omitted whether its
    drawing ran in a child or here; the other figures are drawn."""
    out = _small_run(tmp_path)
    import sqlite3

    with sqlite3.connect(out / "results.sqlite") as db:
        outputs = [p for (p,) in db.execute("SELECT path FROM artefacts WHERE role = 'enhanced'") if p]
    assert outputs
    for p in outputs:
        Path(p).write_bytes(b"not an image")
    here, there = tmp_path / "here", tmp_path / "there"
    for dest in (here, there):
        shutil.copytree(out, dest, ignore=shutil.ignore_patterns("*.png", "*.svg", "report"))
    code = COUNTING + """
import multiprocessing.forkserver
from qbench.report import write_reports
write_reports(sys.argv[1])
multiprocessing.forkserver.ensure_running()
write_reports(sys.argv[2])
print(json.dumps({"passes": passes, "here": sorted(digests(sys.argv[1])), "there": sorted(digests(sys.argv[2]))}))
"""
    got = _python(code, str(here), str(there))
    assert got["here"] == got["there"] == sorted(set(FIGURES) - {"figures/panels/panel_imgs.png"})
    assert got["passes"][1][1:] == [3, 0]                   # the panel's drawing ended in its child
    for folder in (here, there):
        assert "Visual comparison" not in (folder / "leaderboard.md").read_text()


def write_marker(path: str, die_in_child_of: int | None = None) -> None:
    """A drawing for the tests below: writes the pid that drew it; in a child of
    ``die_in_child_of`` it kills its process instead."""
    if die_in_child_of is not None and os.getpid() != die_in_child_of:
        os._exit(9)
    Path(path).write_text(str(os.getpid()))


def fail(message: str) -> None:
    raise ValueError(message)


def test_a_child_that_dies_does_not_hang_the_report_its_drawings_are_done_here(tmp_path):
    """A child killed mid-drawing and a drawing that cannot be pickled: drawn here, in order with
    what follows them; a drawing that raises in its child and here propagates, what was to
    follow it does not run; a single drawing goes to no child."""
    code = """
import json, os, sys
from functools import partial
import multiprocessing.forkserver
from pathlib import Path
from qbench.report.figure_pass import FigurePass
from tests.test_figure_pass import fail, write_marker
multiprocessing.forkserver.ensure_running()
tmp, me, order = Path(sys.argv[1]), os.getpid(), []
drawer = FigurePass(2)
drawer.submit(partial(write_marker, str(tmp / "a"), me))          # its child dies
drawer.submit(partial(write_marker, str(tmp / "b")))
drawer.submit(lambda: write_marker(str(tmp / "c")))               # cannot be pickled
drawer.after(lambda: order.append("after abc"))
drawer.wait()
failing = FigurePass(2)
failing.submit(partial(write_marker, str(tmp / "d")))
failing.after(lambda: order.append("after d"))
failing.submit(partial(fail, "raised in the child and again here"))
failing.after(lambda: order.append("after the failure"))
try:
    failing.wait()
except ValueError as exc:
    order.append(str(exc))
single = FigurePass(2)                                               # one drawing: not worth a child
single.submit(partial(write_marker, str(tmp / "e")))
single.wait()
print(json.dumps({"me": me, "order": order, "pids": {n: int((tmp / n).read_text()) for n in "abcde"},
                  "counts": [drawer.drawn_in_children, drawer.drawn_here],
                  "single": [single.drawn_in_children, single.drawn_here]}))
"""
    got = _python(code, str(tmp_path))
    assert got["pids"]["a"] == got["me"] and got["pids"]["c"] == got["me"]        # drawn again here
    assert got["pids"]["d"] != got["me"] and got["pids"]["e"] == got["me"] and got["single"] == [0, 1]
    assert got["order"] == ["after abc", "after d", "raised in the child and again here"]
    assert sum(got["counts"]) == 3 and got["counts"][1] >= 2        # b: in a child unless the dying one took it down


def test_forkserver_running_follows_the_server(tmp_path):
    code = """
import json, os, signal, time
import multiprocessing.forkserver as fs
from qbench.forkserver import forkserver_running
seen = [forkserver_running()]
fs.ensure_running()
seen.append(forkserver_running())
os.kill(fs._forkserver._forkserver_pid, signal.SIGKILL)
for _ in range(100):
    if not forkserver_running():
        break
    time.sleep(0.05)
seen.append(forkserver_running())
fs.ensure_running()                                       # the exited server is still reapable
seen.append(forkserver_running())
print(json.dumps(seen))
"""
    assert _python(code) == [False, True, False, True]


def test_after_a_pool_run_two_children_start_with_the_report(tmp_path):
    """With a forkserver running, the report's figure pass starts two children at once (they
    import matplotlib while the report reads the store); two drawings go to them, and a single
    drawing is drawn here and the children are let go."""
    code = """
import json, os, sys
from functools import partial
import multiprocessing.forkserver
from pathlib import Path
from qbench.report.figure_pass import FigurePass
from tests.test_figure_pass import write_marker
multiprocessing.forkserver.ensure_running()
tmp, me = Path(sys.argv[1]), os.getpid()
drawer = FigurePass.for_report()
started = len(drawer._pool._processes)                 # before any drawing was submitted
drawer.submit(partial(write_marker, str(tmp / "a")))
drawer.submit(partial(write_marker, str(tmp / "b")))
drawer.wait()
single = FigurePass.for_report()
single_started = len(single._pool._processes)
single.submit(partial(write_marker, str(tmp / "c")))
single.wait()
print(json.dumps({"me": me, "started": [started, single_started], "released": single._pool is None,
                  "pids": {n: int((tmp / n).read_text()) for n in "abc"}}))
"""
    got = _python(code, str(tmp_path))
    assert got["started"] == [min(2, os.cpu_count() or 1)] * 2
    assert got["pids"]["a"] != got["me"] and got["pids"]["b"] != got["me"]
    assert got["pids"]["c"] == got["me"] and got["released"]


def sleep_in_child(path: str, parent: int, seconds: float) -> None:
    """A drawing for the test below: hangs for ``seconds`` in a child, writes its pid here."""
    if os.getpid() != parent:
        import time

        time.sleep(seconds)
    Path(path).write_text(str(os.getpid()))


def test_a_child_that_hangs_is_killed_and_its_figure_drawn_here(tmp_path):
    """A drawing that takes longer than the timeout in its child: the children are killed, that
    figure and the ones not yet finished are drawn here, and the report goes on."""
    code = """
import json, os, sys, time
from functools import partial
import multiprocessing.forkserver
from pathlib import Path
from qbench.report.figure_pass import FigurePass
from tests.test_figure_pass import sleep_in_child, write_marker
multiprocessing.forkserver.ensure_running()
tmp, me = Path(sys.argv[1]), os.getpid()
drawer = FigurePass(2)
drawer.timeout = 2.0
drawer.submit(partial(sleep_in_child, str(tmp / "a"), me, 120))
drawer.submit(partial(write_marker, str(tmp / "b")))
order = []
drawer.after(lambda: order.append("after"))
t0 = time.monotonic()
drawer.wait()
print(json.dumps({"me": me, "seconds": time.monotonic() - t0, "order": order,
                  "pids": {n: int((tmp / n).read_text()) for n in "ab"}, "here": drawer.drawn_here}))
"""
    got = _python(code, str(tmp_path))
    assert got["pids"]["a"] == got["me"] and got["order"] == ["after"]
    assert got["seconds"] < 60 and got["here"] >= 1
