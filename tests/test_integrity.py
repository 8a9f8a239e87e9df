"""Integrity under faults: cache files verified on read, store migration, the file-hash cache,
read-only results folders, a full disk, a damaged store, a dead worker; each a clear exit code."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from qbench.cli import main
from qbench.report import write_reports
from qbench.runner import Runner
from qbench.store import SCHEMA_VERSION
from qbench.suite import parse_suite

from .conftest import REPO, save, smooth_image

T = "tests.solvers_for_tests:"


def suite(folder: Path, metrics=("psnr_y",), **over) -> dict:
    data = {"name": "integrity", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [20, 60]}],
            "solvers": ["identity", {"name": T + "Brighten", "label": "bright"}],
            "metrics": list(metrics), "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    data.update(over)
    return data


def run(data: dict, out: Path, workers: int = 0, **kw):
    result = Runner(parse_suite(data), out, workers=workers, progress=False, **kw).run()
    write_reports(out)
    return result


def images(folder: Path, n: int = 2) -> Path:
    for i in range(n):
        save(smooth_image(40 + i, 32, 48), folder / f"{i}.png")
    return folder


def values(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "results.sqlite") as db:
        return db.execute('SELECT key, role, metric, version, value FROM "values" ORDER BY 1, 2, 3, 4').fetchall()


def per_image(out: Path) -> pd.DataFrame:
    cols = ["dataset", "image", "codec", "quality", "solver"]
    return pd.read_csv(out / "per_image.csv").sort_values(cols).reset_index(drop=True)


def flip(path: Path, n: int = 4) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(n):
        data[mid + i] ^= 0xFF
    path.write_bytes(bytes(data))


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# -- 1. cache files carry their sha256 and are verified on read ------------------------------------
def test_damaged_cache_files_are_recomputed_and_values_equal_a_clean_run(tmp_path):
    """Flipped bitstreams, a truncated bitstream, a damaged and a truncated output PNG: the rerun
    with one more metric logs them, computes them again, exits cleanly and equals a clean run."""
    folder = images(tmp_path / "imgs")
    out, clean = tmp_path / "out", tmp_path / "clean"
    assert not run(suite(folder), out).failures
    assert not run(suite(folder, metrics=("psnr_y", "psnr_rgb")), clean).failures
    bins = sorted((out / "cache" / "bitstreams").rglob("*.bin"))
    pngs = sorted((out / "cache" / "outputs").rglob("*.png"))
    assert len(bins) == 4 and len(pngs) == 4
    for b in bins[:3]:
        flip(b)
    bins[3].write_bytes(bins[3].read_bytes()[:40])            # truncated
    flip(pngs[0])
    pngs[1].write_bytes(pngs[1].read_bytes()[:100])            # truncated
    logged: list[str] = []
    res = run(suite(folder, metrics=("psnr_y", "psnr_rgb")), out, log=logged.append)
    assert not res.failures, res.failures
    assert {p for p, _ in res.cache_rejected} == {str(p) for p in bins + pngs[:2]}
    assert sum("does not match its recorded sha256" in m for m in logged) == 6
    assert res.encodings_computed == 4 and res.outputs_computed == 2
    assert values(out) == values(clean)
    pd.testing.assert_frame_equal(per_image(out), per_image(clean), check_exact=True)
    again = run(suite(folder, metrics=("psnr_y", "psnr_rgb")), out)          # repaired for good
    assert not again.cache_rejected and not again.computed_anything


def test_verify_command_lists_missing_and_damaged_cache_files(tmp_path):
    folder = images(tmp_path / "imgs")
    out = tmp_path / "out"
    run(suite(folder), out)
    ok = cli("verify", str(out))
    assert ok.exit_code == 0, ok.output
    bins = sorted((out / "cache" / "bitstreams").rglob("*.bin"))
    flip(bins[0])
    bins[1].unlink()
    bad = cli("verify", str(out))
    assert bad.exit_code == 3, bad.output
    lines = bad.output.splitlines()
    assert any(line.startswith("mismatch") and str(bins[0]) in line for line in lines)
    assert any(line.startswith("missing") and str(bins[1]) in line for line in lines)
    assert "2 of 8 cache file(s)" in bad.output and "Traceback" not in bad.output
    run(suite(folder), out)                          # a rerun that needs them recomputes them
    assert cli("verify", str(out)).exit_code == 3    # (nothing needed them: all values are stored)
    res = run(suite(folder, metrics=("psnr_y", "psnr_rgb")), out)
    assert not res.failures
    assert cli("verify", str(out)).exit_code == 0


def _downgrade_to_schema_2(db_path: Path) -> None:
    """Turn a current store into the layout qbench wrote before cache files carried hashes."""
    with sqlite3.connect(db_path) as db:
        db.execute("ALTER TABLE encodings DROP COLUMN bytes_hash")
        db.execute("ALTER TABLE encodings DROP COLUMN decoded_hash")
        db.execute("ALTER TABLE artefacts DROP COLUMN hash")
        db.execute("DROP TABLE files")
        db.execute("CREATE TABLE files (path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
                   "mode TEXT NOT NULL, pixel_hash TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, "
                   "channels INTEGER NOT NULL, PRIMARY KEY (path, size, mtime_ns, mode))")
        db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")


def test_a_schema_2_store_is_migrated_and_its_unhashed_files_recomputed(tmp_path):
    folder = images(tmp_path / "imgs")
    out, clean = tmp_path / "out", tmp_path / "clean"
    run(suite(folder), out)
    run(suite(folder, metrics=("psnr_y", "psnr_rgb")), clean)
    _downgrade_to_schema_2(out / "results.sqlite")
    for b in (out / "cache" / "bitstreams").rglob("*.bin"):
        flip(b)                                     # damaged before hashes were recorded
    assert cli("verify", str(out)).exit_code == 3   # a read-only look: unrecorded, not migrated
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    res = run(suite(folder, metrics=("psnr_y", "psnr_rgb")), out)
    assert not res.failures
    assert {state for _, state in res.cache_rejected} == {"unrecorded"} and len(res.cache_rejected) == 8
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert db.execute("SELECT COUNT(*) FROM encodings WHERE bytes_hash IS NULL").fetchone() == (0,)
    assert values(out) == values(clean)
    assert cli("verify", str(out)).exit_code == 0


# -- 11. the file-hash cache notices a same-size edit with the timestamp restored ------------------
def test_same_size_edit_with_restored_mtime_is_noticed_and_rehash_ignores_the_cache(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    img = smooth_image(50, 32, 48)
    path = folder / "0.bmp"                        # uncompressed: an edit keeps the size
    Image.fromarray(img).save(path)
    data = suite(folder, solvers=["identity"])
    out = tmp_path / "out"
    run(data, out)
    before = per_image(out)["psnr_y"].tolist()
    st = os.stat(path)
    edited = img.copy()
    edited[:16] = 255 - edited[:16]
    Image.fromarray(edited).save(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns
    res = run(data, out)
    assert res.encodings_computed == 2, "the edited image was taken for the old one"
    after = per_image(out)["psnr_y"].tolist()
    assert after != before
    # --rehash: every image is hashed again, whatever the cache says
    with sqlite3.connect(out / "results.sqlite") as db:
        db.execute("UPDATE files SET pixel_hash='deadbeef' || substr(pixel_hash, 9)")
    with sqlite3.connect(out / "results.sqlite") as db:
        stale = db.execute("SELECT pixel_hash FROM files").fetchone()[0]
    res = run(data, out, rehash=True)
    assert not res.computed_anything
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT pixel_hash FROM files ORDER BY ctime_ns DESC").fetchone()[0] != stale
    assert per_image(out)["psnr_y"].tolist() == after


# -- 12. a read-only results folder can be reported and compared --------------------------------
READONLY = r"""
import contextlib, io, json, os, subprocess, sys
folder, commands = sys.argv[1], json.loads(sys.argv[2])
if os.geteuid() == 0:          # root ignores permissions: a read-only bind mount in a private namespace
    subprocess.run(["mount", "--bind", folder, folder], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", folder, folder], check=True)
from qbench.cli import main
results = []
for args in commands:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main.main(args=args, prog_name="qbench")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    results.append((code, err.getvalue()))
print(json.dumps(results))
"""


def readonly_cli(folder: Path, *commands: list[str]) -> list[tuple[int, str]]:
    """(exit code, stderr) of each ``qbench`` command, run in one process that sees ``folder``
    read-only (EROFS as root, else EACCES)."""
    import json

    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    script = [sys.executable, "-c", READONLY, str(folder), json.dumps(commands)]
    if os.geteuid() == 0:
        if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
            pytest.skip("running as root without 'unshare -m': cannot make a folder read-only")
        script = ["unshare", "-m", *script]
    else:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    try:
        got = subprocess.run(script, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=180)
    finally:
        if os.geteuid() != 0:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
    assert got.returncode == 0, got.stderr[-3000:]
    return [tuple(r) for r in json.loads(got.stdout.splitlines()[-1])]


def test_read_only_results_folder_reports_compares_verifies_and_refuses_runs(tmp_path, suite_file):
    folder = tmp_path / "imgs"
    runs = tmp_path / "runs"
    out = runs / "a"
    run(suite(folder), out)
    elsewhere = tmp_path / "docs"
    report, compare, verify, run_there, run_inside = readonly_cli(
        runs, ["report", str(out), "--to", str(elsewhere)], ["compare", str(out), str(out)], ["verify", str(out)],
        ["run", str(suite_file), "--out", str(out), "--quiet"],
        ["run", str(suite_file), "--out", str(runs / "new"), "--quiet"])
    assert report[0] == 0, report
    assert (elsewhere / "leaderboard.md").read_text() == (out / "leaderboard.md").read_text()
    assert compare[0] == 0 and verify[0] == 0, (compare, verify)
    # writing there is refused with one line and exit 3, a new folder inside as well
    for code, err in (run_there, run_inside):
        assert code == 3, err
        assert "Traceback" not in err and len([x for x in err.splitlines() if "qbench: error:" in x]) == 1, err


@pytest.fixture
def suite_file(tmp_path) -> Path:
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite(images(tmp_path / "imgs"))))
    return path


# -- 4. every failure a one-line message with the documented exit code ------------------------------
def test_full_disk_is_exit_3_and_the_rerun_after_freeing_space_equals_a_clean_run(tmp_path, monkeypatch):
    """SQLite's real ``SQLITE_FULL`` ('database or disk is full') through ``max_page_count``,
    a limit that the store reaches part-way through the run."""
    import yaml

    import qbench.store as store_mod

    suite_file = tmp_path / "s.yaml"
    suite_file.write_text(yaml.safe_dump(suite(images(tmp_path / "imgs", 3),
                                                codecs=[{"name": "jpeg", "qualities": [20, 40, 60, 80]}])))
    clean, out = tmp_path / "clean", tmp_path / "out"
    assert cli("run", str(suite_file), "--out", str(clean), "--workers", "0", "--quiet").exit_code == 0
    with store_mod.Store(tmp_path / "empty.sqlite") as empty:
        limit = empty.db.execute("PRAGMA page_count").fetchone()[0] + 3     # room for a few rows
    real_connect = sqlite3.connect

    def small_disk(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        con.execute(f"PRAGMA max_page_count = {limit}")
        return con

    monkeypatch.setattr(store_mod.sqlite3, "connect", small_disk)
    full = cli("run", str(suite_file), "--out", str(out), "--workers", "0", "--quiet")
    monkeypatch.setattr(store_mod.sqlite3, "connect", real_connect)
    assert full.exit_code == 3, full.output
    msg = [line for line in full.output.splitlines() if "error" in line]
    assert len(msg) == 1 and "database or disk is full" in msg[0] and "free disk space" in msg[0], full.output
    assert "Traceback" not in full.output
    with sqlite3.connect(out / "results.sqlite") as db:
        assert 0 < db.execute('SELECT COUNT(*) FROM "values"').fetchone()[0] < len(values(clean))
    again = cli("run", str(suite_file), "--out", str(out), "--workers", "0", "--quiet")
    assert again.exit_code == 0, again.output
    assert values(out) == values(clean)
    pd.testing.assert_frame_equal(per_image(out), per_image(clean), check_exact=True)


def test_damaged_store_is_exit_3_with_one_line(tmp_path, suite_file):
    out = tmp_path / "out"
    assert cli("run", str(suite_file), "--out", str(out), "--workers", "0", "--quiet").exit_code == 0
    db = out / "results.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = con.execute("PRAGMA page_size").fetchone()[0]
        roots = [r for (r,) in con.execute("SELECT rootpage FROM sqlite_master WHERE type='table' AND name IN "
                                            "('values', 'encodings', 'runs', 'plan')")]
    raw = bytearray(db.read_bytes())
    for r in roots:              # the tables' pages, not the schema: the store opens, reading them fails
        start = (r - 1) * page
        raw[start: start + page] = bytes([0xA5]) * page
    db.write_bytes(bytes(raw))
    for args in (["run", str(suite_file), "--out", str(out), "--workers", "0", "--quiet"], ["report", str(out)],
                 ["compare", str(out), str(out)], ["verify", str(out)]):
        got = cli(*args)
        assert got.exit_code == 3, (args, got.output)
        errors = [line for line in got.output.splitlines() if line.startswith("qbench: error:")]
        assert len(errors) == 1 and "malformed" in errors[0], (args, got.output)
        assert "Traceback" not in got.output


def test_a_killed_worker_is_replaced_and_its_jobs_retried(tmp_path):
    """A pool worker SIGKILLed mid-job (as by the OOM killer): the jobs in flight run again on a
    new worker, nothing is recorded as failed, and the values equal an in-process run."""
    folder = images(tmp_path / "imgs", 3)
    marker = tmp_path / "killed"
    codec = {"name": T + "KillsWorkerOnce", "label": "jpeg", "qualities": [20, 40, 60], "params": {"marker": str(marker)}}
    data = suite(folder, codecs=[codec], solvers=["identity"])
    logged: list[str] = []
    res = run(data, tmp_path / "out", workers=2, log=logged.append)
    assert marker.exists(), "no worker was killed"
    assert not res.failures, res.failures
    assert any("a worker process died" in m and "retrying" in m for m in logged), logged
    clean = run(data, tmp_path / "clean", workers=0)
    assert not clean.failures
    assert values(tmp_path / "out") == values(tmp_path / "clean")


def test_a_suite_name_too_long_for_a_folder_is_refused_by_validate(tmp_path):
    import yaml

    path = tmp_path / "long.yaml"
    data = suite(images(tmp_path / "imgs"))
    data["name"] = "x" * 300
    path.write_text(yaml.safe_dump(data))
    got = cli("validate", str(path))
    assert got.exit_code == 2, got.output
    assert "name" in got.output and "Traceback" not in got.output
    got = cli("run", str(path), "--out", str(tmp_path / "o"), "--quiet")
    assert got.exit_code == 2, got.output


def test_a_worker_encodes_again_when_the_cached_bitstream_changed_after_planning(tmp_path):
    """The worker checks the bytes it reads against the recorded hash (the file may change
    between planning and reading): a mismatch is reported and the bitstream written anew."""
    from qbench.cachefile import digest
    from qbench.images import ImageSource
    from qbench.runner.stages import CodeJob, cache_paths, run_code

    src = ImageSource(str(save(smooth_image(60, 32, 48), tmp_path / "0.png")))
    job = CodeJob("ab" * 12, "h", "jpeg", "jpeg", {}, 50.0, False, src, 32 * 48, str(tmp_path / "cache"), src)
    first = run_code(job)
    path = cache_paths(job.cache_dir, job.enc_key)[0]
    assert first.encoding.bytes_hash == digest(path.read_bytes())
    good = path.read_bytes()
    flip(path)
    again = run_code(replace(job, cached_bytes=str(path), cached_hash=first.encoding.bytes_hash))
    assert again.repaired == [str(path)] and again.encoding is not None
    assert path.read_bytes() == good and again.encoding.bytes_hash == first.encoding.bytes_hash
    reused = run_code(replace(job, cached_bytes=str(path), cached_hash=first.encoding.bytes_hash))
    assert reused.encoding is None and not reused.repaired          # intact: decoded, not encoded


TMPFS = r"""
import subprocess, sys
folder, size, args = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder], check=True)
from qbench.cli import main
main(args=args, prog_name="qbench")
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_file_system_stops_the_run_with_one_line(tmp_path):
    """Cache files, store and reports on a real 900 KiB tmpfs (a private mount namespace): the disk
    fills during the run; whichever write meets ENOSPC first, the run stops with exit 3 and one line."""
    import yaml

    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("no 'unshare -m' here")
    folder = tmp_path / "imgs"
    for i in range(3):
        save(smooth_image(80 + i, 256, 256), folder / f"{i}.png")
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text(yaml.safe_dump(suite(folder)))
    disk = tmp_path / "disk"
    disk.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    got = subprocess.run(["unshare", "-m", sys.executable, "-c", TMPFS, str(disk), "900k", "run", str(suite_file),
                          "--out", str(disk / "out"), "--workers", "2", "--quiet"],
                         capture_output=True, text=True, env=env, cwd=str(REPO), timeout=300)
    errors = [line for line in got.stderr.splitlines() if line.startswith("qbench: error:")]
    assert got.returncode == 3, got.stderr[-3000:]
    assert len(errors) == 1 and ("No space left on device" in errors[0] or "disk is full" in errors[0]), got.stderr
    assert "Traceback" not in got.stderr
