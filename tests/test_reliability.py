"""Reliability: bad images, failing solvers, repeated SIGKILL + resume, concurrent runs.

The kill and concurrency tests run the real ``qbench run`` command in real processes that are
killed with SIGKILL. To fit twenty kills in a few seconds each process is forked from a parent
that has already imported qbench, torch and the report stack (a "zygote", as forkserver does):
the import phase is shared, everything after it -- loading the suite, planning, computing,
writing the store and the reports -- happens in the killed process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qbench.images import read_image
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import REPO, save, smooth_image

T = "tests.solvers_for_tests:"


def run(data: dict, out: Path, **kw):
    result = Runner(parse_suite(data), out, workers=0, progress=False, **kw).run()
    write_reports(out)
    return result


def folder_suite(folder: Path, **over) -> dict:
    data = {"name": "rel", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [20, 60]}], "solvers": ["identity"],
            "metrics": ["psnr_rgb", "ssim_y"], "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    data.update(over)
    return data


# -- bad images -----------------------------------------------------------------------------------
def _png_with_declared_size(w: int, h: int) -> bytes:
    """A valid PNG signature and IHDR declaring w x h RGB, with one tiny IDAT (a bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def bad_folder(tmp_path) -> Path:
    from PIL import Image

    folder = tmp_path / "bad"
    good = smooth_image(11, 24, 32)
    save(good, folder / "a_good.png")
    folder.joinpath("b_zero.png").write_bytes(b"")
    png = (folder / "a_good.png").read_bytes()
    folder.joinpath("c_truncated.png").write_bytes(png[:len(png) // 2])
    Image.fromarray(good).save(folder / "d_full.jpg", quality=90)
    jpg = (folder / "d_full.jpg").read_bytes()
    folder.joinpath("e_truncated.jpg").write_bytes(jpg[:len(jpg) // 3])
    (folder / "d_full.jpg").unlink()
    Image.fromarray(good).convert("CMYK").save(folder / "f_cmyk.jpg")
    sixteen = (smooth_image(12, 24, 32, 1)[..., 0].astype(np.uint16) * 257 + 3)
    Image.fromarray(sixteen).save(folder / "g_16bit.png")
    Image.fromarray(good).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "h_palette.png")
    Image.fromarray(np.full((1, 1, 3), 77, np.uint8)).save(folder / "i_1x1.png")
    la = np.dstack([smooth_image(13, 24, 32, 1)[..., 0], np.full((24, 32), 255, np.uint8)])
    Image.fromarray(la, "LA").save(folder / "j_la_opaque.png")
    rgba = np.dstack([good, np.full((24, 32), 255, np.uint8)])
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba, "RGBA").save(folder / "k_rgba_transparent.png")
    folder.joinpath("l_bomb.png").write_bytes(_png_with_declared_size(40000, 40000))
    return folder


def test_bad_images_fail_alone_convert_per_policy_and_resume(bad_folder, tmp_path):
    out = tmp_path / "out"
    res = run(folder_suite(bad_folder), out)
    read_fail = {what.split("/", 1)[1]: err for what, stage, err in res.failures if stage == "read"}
    assert set(read_fail) == {"b_zero", "c_truncated", "e_truncated", "f_cmyk", "k_rgba_transparent", "l_bomb"}
    assert "mode CMYK is not supported" in read_fail["f_cmyk"]
    assert "transparent" in read_fail["k_rgba_transparent"]
    assert "decompression bomb" in read_fail["l_bomb"]
    assert all(str(bad_folder) in e for e in read_fail.values())          # each names its file
    # the 1x1 image: PSNR is measured; SSIM cannot be (an 11x11 window) and fails for it alone
    metric_fail = [what for what, stage, _ in res.failures if stage == "metric"]
    assert metric_fail and all("i_1x1" in w and "ssim_y" in w for w in metric_fail)
    per = pd.read_csv(out / "per_image.csv")
    measured = set(per["image"])
    assert measured == {"a_good", "g_16bit", "h_palette", "i_1x1", "j_la_opaque"}
    # the documented conversions: 16-bit -> round(v / 257), palette -> RGB, opaque LA -> gray
    x16 = read_image(bad_folder / "g_16bit.png")
    expect = np.round((smooth_image(12, 24, 32, 1)[..., 0].astype(np.uint16) * 257 + 3) / 257.0)
    assert x16.shape == (24, 32, 1) and np.array_equal(x16[..., 0], expect.astype(np.uint8))
    assert read_image(bad_folder / "h_palette.png").shape == (24, 32, 3)
    assert read_image(bad_folder / "j_la_opaque.png").shape == (24, 32, 1)
    md = (out / "leaderboard.md").read_text()
    assert "## Failures" in md and all(name in md for name in read_fail)
    again = run(folder_suite(bad_folder), out)         # a rerun resumes: only the bad files fail again
    assert again.encodings_computed == 0 and again.metric_values_computed == 0
    assert {w for w, s, _ in again.failures if s == "read"} == {w for w, s, _ in res.failures if s == "read"}


# -- solver failure modes -------------------------------------------------------------------------
def test_every_solver_failure_mode_is_recorded_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(20 + i, 24, 32), folder / f"{i}.png")
    solvers = {"raises": "Explodes", "nan": "MakesNaN", "shape": "WrongShape", "array": "ReturnsArray",
               "oom": "AlwaysOOM"}
    data = folder_suite(folder, solvers=["identity", *({"name": T + c, "label": k} for k, c in solvers.items())],
                        metrics=["psnr_rgb"])
    out = tmp_path / "out"
    res = run(data, out)
    by_solver: dict[str, list[str]] = {}
    for what, stage, err in res.failures:
        assert stage == "solve", (what, stage, err)
        by_solver.setdefault(what.rsplit(" ", 1)[1], []).append(err)
    assert set(by_solver) == set(solvers)
    assert len(by_solver["raises"]) == 2                      # quality 20 only; quality 60 works
    for k in ("nan", "shape", "array", "oom"):
        assert len(by_solver[k]) == 4, (k, by_solver[k])
    assert all("non-finite" in e for e in by_solver["nan"])
    assert all("shape" in e for e in by_solver["shape"])
    assert all("not a tensor" in e for e in by_solver["array"])
    assert all("OutOfMemoryError" in e and "20.00 GiB" in e for e in by_solver["oom"])
    per = pd.read_csv(out / "per_image.csv")
    assert set(per["solver"]) == {"identity", "raises"} and len(per) == 4 + 2
    md = (out / "leaderboard.md").read_text()
    assert "OutOfMemoryError" in md and "non-finite" in md


@pytest.mark.parametrize("solver, message", [("WrongDtype", "dtype"), ("ReturnsArray", "not a tensor")])
def test_invalid_output_types_are_refused_clearly(tmp_path, solver, message):
    folder = tmp_path / "imgs"
    save(smooth_image(30, 24, 32), folder / "0.png")
    data = folder_suite(folder, solvers=[{"name": T + solver, "label": "bad"}], metrics=["psnr_rgb"],
                        codecs=[{"name": "jpeg", "qualities": [50]}])
    res = run(data, tmp_path / "out")
    assert [e for _, s, e in res.failures if s == "solve" and message in e.splitlines()[0]], res.failures


def test_out_of_memory_retries_with_smaller_tiles(tmp_path):
    """The engine answers an out-of-memory error by halving the tile (not the batch) until the
    network fits; the output equals the untiled one for a pixel-wise network."""
    from . import solvers_for_tests as sft

    folder = tmp_path / "imgs"
    save(smooth_image(31, 200, 256), folder / "0.png")
    sft.OOMAbove.sides.clear()
    oom = {"name": T + "OOMAbove", "label": "oom", "params": {"max_side": 128}}
    data = folder_suite(folder, solvers=["identity", oom],
                        metrics=["psnr_rgb"], codecs=[{"name": "jpeg", "qualities": [50]}])
    out = tmp_path / "out"
    res = run(data, out)
    assert not res.failures, res.failures
    sides = sft.OOMAbove.sides            # (a 128 px cost probe comes first)
    first = sides.index(256)
    assert max(sides[first + 1:]) <= 128 and len(sides) > first + 2   # whole image, then tiles
    per = pd.read_csv(out / "per_image.csv")
    vals = per.set_index("solver")["psnr_rgb"]
    assert vals["oom"] == pytest.approx(vals["identity"], abs=1e-9)


# -- kills and concurrency: real processes forked from a pre-imported parent ------------------------
ZYGOTE = r"""
import json, os, sys
import importlib, pkgutil
import torch, pandas, matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot, tabulate, tqdm, skimage, PIL.PngImagePlugin, PIL.JpegImagePlugin
import qbench, tests.solvers_for_tests, qbench_baselines.identity
for m in pkgutil.walk_packages(qbench.__path__, "qbench."):     # import only: no torch work before fork
    if "ray" not in m.name:
        try:
            importlib.import_module(m.name)
        except ImportError:
            pass
from qbench.cli import main
print("ready", flush=True)
for line in sys.stdin:
    jobs = json.loads(line)
    pids = []
    for job in jobs:
        pid = os.fork()
        if pid == 0:
            try:
                fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(fd, 1); os.dup2(fd, 2)
                os.environ.update(job["env"])
                try:
                    main.main(args=job["args"], prog_name="qbench", standalone_mode=True)
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                import traceback; traceback.print_exc(); code = 99
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        pids.append(pid)
    print(json.dumps(pids), flush=True)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    print(json.dumps(codes), flush=True)
"""


class Zygote:
    """A Python process with qbench imported that forks one `qbench` command per request."""

    def __init__(self, cache: Path):
        env = {**os.environ, "PYTHONPATH": str(REPO), "QBENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1",
               "MPLBACKEND": "Agg"}
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
        assert self.proc.stdout.readline().strip() == "ready"

    def start(self, jobs: list[dict]) -> list[int]:
        self.proc.stdin.write(json.dumps(jobs) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def codes(self) -> list[int]:
        return json.loads(self.proc.stdout.readline())

    def run(self, jobs: list[dict]) -> list[int]:
        self.start(jobs)
        return self.codes()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote(tmp_path_factory.mktemp("zcache"))
    yield z
    z.close()


KILL_SUITE = {
    "name": "kills", "datasets": [{"name": "folder", "params": {"path": "PLACEHOLDER"}, "limit": 3}],
    "codecs": [{"name": "jpeg", "qualities": [15, 30, 50, 75]}],
    "solvers": ["identity", {"name": T + "SlowImages", "label": "slow"}],
    "metrics": ["psnr_rgb", "psnr_y"], "output": {"bootstrap": 20, "bd_bootstrap": 0},
}


def job(suite: Path, out: Path, log: Path, sleep: float) -> dict:
    return {"args": ["run", str(suite), "--out", str(out), "--quiet", "--workers", "0"], "log": str(log),
            "env": {"QBENCH_TEST_SLEEP": str(sleep)}}


def store_rows(out: Path) -> dict[str, list]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return {
            "values": db.execute('SELECT key, role, metric, version, value FROM "values" ORDER BY 1,2,3,4').fetchall(),
            "encodings": db.execute("SELECT enc_key, nbytes, bpp FROM encodings ORDER BY 1").fetchall(),
            "artefacts": db.execute("SELECT key, role FROM artefacts ORDER BY 1, 2").fetchall(),
            "plan": db.execute("SELECT sample_id, enc_key, out_key FROM plan ORDER BY 1").fetchall(),
        }


def check_consistent(out: Path, reference: Path) -> None:
    """Store intact, rows equal to the reference, cache files whole, CSV without duplicates."""
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for path, nbytes in db.execute("SELECT bytes_path, nbytes FROM encodings"):
            assert Path(path).stat().st_size == nbytes           # no half-written bitstream is referenced
        for (path,) in db.execute("SELECT path FROM artefacts WHERE path IS NOT NULL"):
            read_image(path)                                      # every referenced image decodes
    got, want = store_rows(out), store_rows(reference)
    for table in want:
        assert got[table] == want[table], table
    a, b = pd.read_csv(out / "per_image.csv"), pd.read_csv(reference / "per_image.csv")
    cols = ["dataset", "image", "codec", "quality", "solver"]
    assert not a.duplicated(cols).any()
    a, b = a.sort_values(cols).reset_index(drop=True), b.sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture(scope="module")
def clean_run(zygote, tmp_path_factory) -> tuple[Path, Path]:
    """The suite file and the results folder of one uninterrupted run."""
    root = tmp_path_factory.mktemp("clean")
    for i in range(3):
        save(smooth_image(70 + i, 40 + 8 * i, 56), root / "imgs" / f"{i}.png")
    suite = root / "kills.yaml"
    data = json.loads(json.dumps(KILL_SUITE))
    data["datasets"][0]["params"]["path"] = str(root / "imgs")
    suite.write_text(yaml.safe_dump(data))
    assert zygote.run([job(suite, root / "out", root / "log.txt", 0.0)]) == [0], (root / "log.txt").read_text()
    return suite, root / "out"


def test_twenty_random_sigkills_then_resume_equal_one_clean_run(zygote, clean_run, tmp_path):
    suite, clean = clean_run
    killed, log = tmp_path / "killed", tmp_path / "log.txt"
    total = len(store_rows(clean)["values"])
    t = time.perf_counter()
    assert zygote.run([job(suite, clean, log, 0.0)]) == [0]          # how long a run with nothing to do lasts
    noop = time.perf_counter() - t
    rng = random.Random(20261201)
    progress, codes = [], []
    t0 = time.perf_counter()
    while codes.count(-signal.SIGKILL) < 20 and len(codes) < 40:     # 20 real kills (a run may finish first)
        (pid,) = zygote.start([job(suite, killed, log, 0.2)])
        # while work is left, anywhere in the first second; after that, anywhere in a no-op run
        # (start-up, planning, report writing)
        complete = bool(progress) and progress[-1] == total
        time.sleep(rng.uniform(0.05, 0.95 * noop) if complete else rng.uniform(0.1, 1.0))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:         # pragma: no cover - it finished first
            pass
        codes += zygote.codes()
        db = killed / "results.sqlite"
        progress.append(0)
        if db.exists():
            with sqlite3.connect(db) as con:
                progress[-1] = con.execute('SELECT COUNT(*) FROM "values"').fetchone()[0]
    kill_seconds = time.perf_counter() - t0
    assert codes.count(-signal.SIGKILL) == 20 and set(codes) <= {0, -signal.SIGKILL}, codes
    interrupted = sum(0 < p < total for p in progress)
    assert interrupted >= 3, (progress, total)              # several kills hit work in progress
    assert progress == sorted(progress)                    # nothing stored is ever lost
    assert zygote.run([job(suite, killed, log, 0.0)]) == [0], log.read_text()[-2000:]
    check_consistent(killed, clean)
    with sqlite3.connect(killed / "results.sqlite") as db:
        statuses = [s for (s,) in db.execute("SELECT status FROM runs ORDER BY run_id")]
    # a run killed after it started is marked "interrupted" by the next run (a kill during
    # start-up leaves no row)
    assert statuses[-1] == "ok" and set(statuses[:-1]) <= {"interrupted", "ok"} and len(statuses) <= len(codes) + 1
    assert "interrupted" in statuses
    litter = [p.name for p in killed.rglob("*.tmp*")]     # temp files of writes cut short (never referenced)
    print(f"20 kills ({len(codes)} runs; a no-op run lasts {noop:.2f} s) in {kill_seconds:.1f} s; "
          f"values after each kill {progress} of {total}; exit codes {codes}; run statuses {statuses}; "
          f"leftover temp files {len(litter)}")


def test_two_concurrent_runs_on_one_folder(zygote, clean_run, tmp_path):
    """Both processes finish (or one stops with exit 3); the store is intact and equals one run."""
    suite, clean = clean_run
    shared = tmp_path / "shared"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    codes = zygote.run([job(suite, shared, logs[0], 0.05), job(suite, shared, logs[1], 0.05)])
    texts = [p.read_text() for p in logs]
    for code, text in zip(codes, texts):
        assert code == 0 or (code == 3 and "qbench: error:" in text), (codes, text[-3000:])
        assert "Traceback" not in text, text[-3000:]
    assert 0 in codes
    print(f"concurrent exit codes {codes}")
    check_consistent(shared, clean)
    assert zygote.run([job(suite, shared, logs[0], 0.0)]) == [0]
    assert "nothing new computed" in logs[0].read_text()


def test_runs_of_dead_processes_become_interrupted(tmp_path):
    """Only a 'running' row of this host whose process is gone is marked; live or foreign ones stay."""
    import json
    import os
    import socket
    import subprocess
    import sys as _sys

    from qbench.store import Store

    dead = subprocess.run([_sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    with Store(tmp_path / "results.sqlite") as store:
        rows = {"dead": {"host": socket.gethostname(), "pid": int(dead)},
                "alive": {"host": socket.gethostname(), "pid": os.getpid()},
                "foreign": {"host": socket.gethostname() + "-elsewhere", "pid": int(dead)}}
        ids = {}
        for name, proc in rows.items():
            ids[name] = int(store.db.execute(
                "INSERT INTO runs (started, status, suite_name, suite_hash, suite_json, env_json) "
                "VALUES (0, 'running', 's', 'h', '{}', ?)", (json.dumps({"process": proc}),)).lastrowid)
        assert store.mark_interrupted_runs() == [ids["dead"]]
        new = store.start_run("s", "h", {}, {})
        status = dict(store.db.execute("SELECT run_id, status FROM runs").fetchall())
    assert status[ids["dead"]] == "interrupted"
    assert status[ids["alive"]] == status[ids["foreign"]] == status[new] == "running"


# -- workers die with the run; Ctrl-C exits 130 ------------------------------------------------------
def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            out[int(name)] = (int(fields[1]), fields[0])
    return out


def _descendants(root: int) -> set[int]:
    procs, found, frontier = _processes(), set(), {root}
    while frontier:
        frontier = {p for p, (parent, _) in procs.items() if parent in frontier and p not in found}
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    procs = _processes()
    return {p for p in pids if p in procs and procs[p][1] != "Z"}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_a_killed_main_process(zygote, clean_run, tmp_path, sig):
    """Only the main pid of a real `qbench run --workers 2` is killed; its forkserver and both
    workers (which would otherwise live on with PPID 1, holding memory and stdout) are gone soon."""
    suite, _ = clean_run
    log = tmp_path / "log.txt"
    (pid,) = zygote.start([{"args": ["run", str(suite), "--out", str(tmp_path / "out"), "--quiet", "--workers", "2"],
                            "log": str(log), "env": {"QBENCH_TEST_SLEEP": "0.3"}}])
    deadline = time.monotonic() + 90
    family: set[int] = set()
    while time.monotonic() < deadline:
        family = _descendants(pid)
        procs = _processes()
        if sum(procs.get(p, (pid,))[0] != pid for p in family) >= 2:      # two workers under the forkserver
            break
        time.sleep(0.1)
    assert sum(_processes().get(p, (pid,))[0] != pid for p in family) >= 2, (family, log.read_text()[-2000:])
    os.kill(pid, sig)
    assert zygote.codes() == [-sig]
    deadline = time.monotonic() + 20
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(family)
    for p in left:                                  # do not leave them behind if the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, [Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")[:120] for p in left]


def test_ctrl_c_exits_130_and_the_rerun_equals_a_clean_run(zygote, clean_run, tmp_path):
    suite, clean = clean_run
    out, log = tmp_path / "out", tmp_path / "log.txt"
    (pid,) = zygote.start([job(suite, out, log, 0.3)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (out / "results.sqlite").exists():
            with sqlite3.connect(out / "results.sqlite") as db:
                if db.execute('SELECT name FROM sqlite_master WHERE name="values"').fetchone() and \
                        db.execute('SELECT COUNT(*) FROM "values"').fetchone()[0]:
                    break
        time.sleep(0.05)
    os.kill(pid, signal.SIGINT)
    assert zygote.codes() == [130], log.read_text()[-3000:]
    text = log.read_text()
    assert "qbench: interrupted" in text and "Traceback" not in text, text[-3000:]
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert zygote.run([job(suite, out, log, 0.0)]) == [0], log.read_text()[-2000:]
    check_consistent(out, clean)
