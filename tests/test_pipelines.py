"""Every pipeline kind end to end (enhance, rescale, learned codec, diagnostic role pass), their
kill/resume behaviour, and executor equivalence (in-process vs the local process pool)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

from qbench.images import read_image
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import REPO, save, smooth_image
from .test_metrics_core import np_psnr

BITPLANE = "tests.solvers_for_tests:BitplaneCodec"


def suite(folder, **over):
    data = {
        "name": "p",
        "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
        "codecs": [{"name": BITPLANE, "label": "bitplane", "qualities": [1, 3, 5]},
                   {"name": "jpeg", "qualities": [20, 60]}],
        "solvers": ["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "br"},
                    {"name": "tests.solvers_for_tests:SlowRescaler", "label": "resc"}],
        "metrics": ["psnr_rgb", "ssim_y"],
        "anchor": "jpeg",
    }
    data.update(over)
    return data


@pytest.fixture
def rgb_folder(tmp_path):
    folder = tmp_path / "rgb"
    for i in range(3):
        save(smooth_image(40 + i, 64, 80), folder / f"{i}.png")
    return folder


def values(db_path):
    with sqlite3.connect(db_path) as db:
        return db.execute('SELECT key, role, metric, version, value FROM "values" ORDER BY 1, 2, 3').fetchall()


def bitplane_decode(data: bytes) -> np.ndarray:
    """An independent decoder of the test codec's bytes (after qbench's one-byte quality header)."""
    bits = data[0] + 2
    c, h, w = struct.unpack("<BHH", data[1:6])
    kept = np.frombuffer(zlib.decompress(data[6:]), np.uint8).reshape(c, h, w).astype(np.float64)
    step = 1 << (8 - bits)
    arr = np.clip(np.round((kept * step + (step - 1) / 2.0)), 0, 255).astype(np.uint8)
    return arr.transpose(1, 2, 0)


def test_every_pipeline_kind_end_to_end(rgb_folder, tmp_path):
    out = tmp_path / "out"
    res = Runner(parse_suite(suite(rgb_folder)), out, workers=2, progress=False).run()
    assert not res.failures and res.samples == 3 * 5 * 3
    db = sqlite3.connect(out / "results.sqlite")
    kinds = dict(db.execute("SELECT pipeline, COUNT(*) FROM plan GROUP BY pipeline").fetchall())
    assert kinds == {"enhance": 2 * 2 * 3, "learned_codec": 2 * 3 * 3, "rescale": 5 * 3}
    # the low-res image is made once per image, not once per codec point
    assert db.execute("SELECT COUNT(*) FROM artefacts WHERE role='lowres'").fetchone()[0] == 3
    # identity is a pass-through: its sample is the compressed artefact, nothing stored twice
    rows = db.execute("SELECT out_key, enc_key, out_role FROM plan WHERE solver='identity'").fetchall()
    assert all(o == e and r == "compressed" for o, e, r in rows)
    assert db.execute("SELECT COUNT(*) FROM artefacts WHERE role='enhanced'").fetchone()[0] == 2 * 15
    # rate counts the original's pixels for every pipeline, and the learned codec's bytes are real
    for image, codec, q, solver, enc_key, out_key, out_role in db.execute(
            "SELECT image, codec, quality, solver, enc_key, out_key, out_role FROM plan"):
        x = read_image(rgb_folder / f"{image}.png")
        nbytes, pixels, bpp, path = db.execute(
            "SELECT nbytes, pixels, bpp, bytes_path FROM encodings WHERE enc_key=?", (enc_key,)).fetchone()
        assert pixels == x.shape[0] * x.shape[1] and bpp == pytest.approx(8 * nbytes / pixels)
        data = open(path, "rb").read()
        assert len(data) == nbytes
        if codec == "bitplane" and solver == "identity":
            assert data[0] == q
            got = db.execute('SELECT value FROM "values" WHERE key=? AND role=? AND metric=?',
                             (out_key, out_role, "psnr_rgb")).fetchone()[0]
            assert got == pytest.approx(np_psnr(x, bitplane_decode(data)), abs=1e-9)
    costs = {(label, kind) for label, kind in db.execute("SELECT label, kind FROM costs")}
    assert {("bitplane", "codec"), ("resc", "solver"), ("br", "solver")} <= costs
    comps = {(k, label) for k, label in db.execute("SELECT kind, label FROM components")}
    assert ("codec", "bitplane") in comps and ("metric", "ssim_y") in comps
    again = Runner(parse_suite(suite(rgb_folder)), out, workers=2, progress=False).run()
    assert not again.computed_anything and again.samples_done_before == res.samples


def test_learned_codec_as_anchor_with_target_bpp(rgb_folder, tmp_path):
    data = suite(rgb_folder, codecs=[{"name": BITPLANE, "label": "bitplane", "target_bpp": [4.0, 9.0]},
                                     {"name": "jpeg", "qualities": [30, 90]}],
                 solvers=["identity"], anchor="bitplane")
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    import json

    from .solvers_for_tests import BitplaneCodec
    from qbench.images import to_tensor

    rows = db.execute("SELECT p.image, e.quality, e.bpp, e.side_info FROM plan p JOIN encodings e USING (enc_key) "
                      "WHERE p.codec='bitplane'").fetchall()
    assert len(rows) == 3 * 2
    codec = BitplaneCodec()
    for image, target, bpp, side in rows:
        info = json.loads(side)
        assert info["target_bpp"] == target and info["chosen_quality"] in range(1, 7)
        # the chosen setting is the closest of the ladder: no other quality is nearer the target
        x = to_tensor(read_image(rgb_folder / f"{image}.png"))
        pixels = x.shape[-2] * x.shape[-1]
        ladder = {q: 8 * (1 + len(codec.encode(x, q))) / pixels for q in BitplaneCodec.qualities}
        assert bpp == pytest.approx(ladder[info["chosen_quality"]])
        assert abs(bpp - target) == pytest.approx(min(abs(b - target) for b in ladder.values()))


def test_local_pool_and_inline_give_identical_records(rgb_folder, tmp_path):
    data = suite(rgb_folder)
    a, b = tmp_path / "inline", tmp_path / "pool"
    Runner(parse_suite(data), a, workers=0, progress=False).run()
    Runner(parse_suite(data), b, workers=2, progress=False).run()
    assert values(a / "results.sqlite") == values(b / "results.sqlite")
    for f in (a / "cache" / "bitstreams").rglob("*.bin"):
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()
    for f in (a / "cache" / "outputs").rglob("*.png"):
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()


def test_unquantised_outputs_are_measured_as_floats(rgb_folder, tmp_path):
    data = suite(rgb_folder, codecs=[{"name": "jpeg", "qualities": [30]}],
                 solvers=[{"name": "tests.solvers_for_tests:Brighten", "label": "br", "params": {"delta": 0.001}}],
                 output={"quantize": False})
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    paths = [p for (p,) in db.execute("SELECT path FROM artefacts WHERE role='enhanced'")]
    assert paths and all(p.endswith(".npy") for p in paths)
    for path, key in db.execute("SELECT path, key FROM artefacts WHERE role='enhanced'").fetchall():
        y = np.load(path)
        assert y.dtype == np.float32
        image = db.execute("SELECT image FROM plan WHERE out_key=?", (key,)).fetchone()[0]
        x = read_image(rgb_folder / f"{image}.png").astype(np.float64)
        mse = np.mean((x - y.astype(np.float64)) ** 2)
        got = db.execute('SELECT value FROM "values" WHERE key=? AND metric=\'psnr_rgb\'', (key,)).fetchone()[0]
        assert got == pytest.approx(10 * np.log10(255.0 ** 2 / mse), abs=1e-6)


KILL_SUITES = {
    "enhance": dict(solvers=[{"name": "tests.solvers_for_tests:Slow", "label": "slow"}],
                    codecs=[{"name": "jpeg", "qualities": [10, 20, 30, 40, 50, 60]}]),
    "rescale": dict(solvers=[{"name": "tests.solvers_for_tests:SlowRescaler", "label": "resc"}],
                    codecs=[{"name": "jpeg", "qualities": [10, 20, 30, 40, 50, 60]}]),
    "learned_codec": dict(solvers=["identity"],
                          codecs=[{"name": BITPLANE, "label": "bitplane", "qualities": [1, 2, 3, 4, 5, 6]}]),
}


@pytest.mark.parametrize("kind", sorted(KILL_SUITES))
def test_killed_run_resumes_to_the_same_values(kind, tmp_path, write_suite):
    """SIGKILL a run part-way, rerun, and compare every stored value with an uninterrupted run."""
    folder = tmp_path / "imgs"
    for i in range(4):
        save(smooth_image(50 + i, 48, 64), folder / f"{i}.png")
    data = suite(folder, anchor=None, **KILL_SUITES[kind])
    path = write_suite(data)
    env = {**os.environ, "PYTHONPATH": str(REPO), "QBENCH_TEST_SLEEP": "0.15"}
    cmd = [sys.executable, "-m", "qbench.cli", "run", str(path), "--quiet", "--workers", "0"]
    killed = tmp_path / "killed"
    target = random.Random(os.getpid()).randint(3, 16)          # of 24 samples
    proc = subprocess.Popen([*cmd, "--out", str(killed)], env=env, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    db_path, done, deadline = killed / "results.sqlite", 0, time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=1) as db:
                    done = db.execute('SELECT COUNT(DISTINCT key) FROM "values"').fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= target:
                break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < done < 24 + 24, f"run was not interrupted part-way ({done} keys)"
    env["QBENCH_TEST_SLEEP"] = "0"
    resumed = subprocess.run([*cmd, "--out", str(killed)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "already in the store" in resumed.stderr
    clean = tmp_path / "clean"
    subprocess.run([*cmd, "--out", str(clean)], env=env, check=True, capture_output=True)
    assert values(killed / "results.sqlite") == values(clean / "results.sqlite")
    assert (killed / "summary.csv").read_text() == (clean / "summary.csv").read_text()
    assert (killed / "per_image.csv").read_text() == (clean / "per_image.csv").read_text()


def test_fid_triangle_between_roles(tmp_path, monkeypatch, one_torch_thread):
    """Set metrics between any two roles; identity's enhanced set is its compressed set."""
    from .test_metrics_distribution import install_random_inception

    install_random_inception(monkeypatch)
    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(60 + i, 160, 176), folder / f"{i}.png")
    data = suite(folder, codecs=[{"name": "jpeg", "qualities": [5]}], anchor=None, metrics=["fid"],
                 solvers=["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "br",
                                       "params": {"delta": 0.2}}],
                 diagnostics={"set_pairs": [["original", "compressed"], ["compressed", "enhanced"]]})
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    got = {(s, a, b): v for s, a, b, v in db.execute(
        "SELECT solver, ref_role, test_role, value FROM set_values WHERE metric='fid'")}
    assert set(got) == {(s, a, b) for s in ("identity", "br") for a, b in
                        (("original", "enhanced"), ("original", "compressed"), ("compressed", "enhanced"))}
    # a randomly initialised Inception gives small distances; what matters is their structure:
    # identity's E set is its C set (distance zero), brightening moves E away from C
    assert got[("identity", "original", "enhanced")] == got[("identity", "original", "compressed")]
    assert got[("identity", "compressed", "enhanced")] < 1e-6 * got[("br", "compressed", "enhanced")]
    assert got[("br", "original", "enhanced")] != got[("br", "original", "compressed")]
    again = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not again.computed_anything


def test_no_reference_metric_is_measured_on_every_role(tmp_path):
    """bef_y on original, compressed and enhanced images; it equals PSNR-B's BEF term."""
    import torch

    from qbench.metrics.functional.color import rgb_to_y
    from qbench.metrics.functional.psnrb import blocking_effect_factor

    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(70 + i, 64, 96), folder / f"{i}.png")
    data = suite(folder, codecs=[{"name": "jpeg", "qualities": [10]}], anchor=None, metrics=["psnr_y", "bef_y"],
                 solvers=["identity", {"name": "tests.solvers_for_tests:Brighten", "label": "br"}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=2, progress=False).run()
    assert not res.failures
    db = sqlite3.connect(out / "results.sqlite")
    roles = dict(db.execute('SELECT role, COUNT(*) FROM "values" WHERE metric=\'bef_y\' GROUP BY role'))
    assert roles == {"original": 2, "compressed": 2, "enhanced": 2}
    assert db.execute('SELECT COUNT(*) FROM "values" WHERE role=\'original\' AND metric=\'psnr_y\'').fetchone()[0] == 0

    def bef(img):
        x = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
        return float(blocking_effect_factor(rgb_to_y(x)).mean())

    for image, h in db.execute("SELECT DISTINCT image, image_hash FROM plan"):
        x = read_image(folder / f"{image}.png")
        got = db.execute('SELECT value FROM "values" WHERE key=? AND role=\'original\'', (h,)).fetchone()[0]
        assert got == pytest.approx(bef(x), rel=1e-12, abs=1e-12)
        enc_key, path = db.execute("SELECT p.enc_key, e.bytes_path FROM plan p JOIN encodings e USING (enc_key) "
                                   "WHERE p.image=? LIMIT 1", (image,)).fetchone()
        comp = db.execute('SELECT value FROM "values" WHERE key=? AND role=\'compressed\' AND metric=\'bef_y\'',
                          (enc_key,)).fetchone()[0]
        assert comp == pytest.approx(bef(read_image(path)), rel=1e-12) and comp > got   # JPEG adds blocking
    again = Runner(parse_suite(data), out, workers=2, progress=False).run()
    assert not again.computed_anything
    import json

    from qbench.report import write_reports

    write_reports(out)
    means = {(r["solver"], r["metric"]): r for r in json.loads((out / "results.json").read_text())["role_means"]}
    ident = means[("identity", "bef_y")]
    assert ident["images"] == 2 and ident["enhanced"] == pytest.approx(ident["compressed"])
    assert ident["compressed_minus_original"] > 0


def test_batched_rescaler_keeps_each_original_size(tmp_path):
    """Odd sizes 41x57 and 42x58 both code a 21x29 low-res image at x2: batched together, each
    output must still take its own original's size (and its diagnostics compare equal shapes)."""
    folder = tmp_path / "odd"
    save(smooth_image(1, 41, 57), folder / "a.png")
    save(smooth_image(2, 42, 58), folder / "b.png")
    data = {"name": "odd", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [30]}],
            "solvers": [{"name": "matlab_bicubic", "params": {"scale": 2}, "engine": {"batch_size": 2}}],
            "metrics": ["psnr_y"], "diagnostics": {"per_image": ["residual"]}}
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures and res.outputs_computed == 2
    with sqlite3.connect(out / "results.sqlite") as db:
        lows = [read_image(p).shape for (p,) in db.execute("SELECT path FROM artefacts WHERE role='lowres'")]
        assert lows == [(21, 29, 3)] * 2
        for image, path in db.execute("SELECT p.image, a.path FROM plan p JOIN artefacts a "
                                      "ON a.key = p.out_key AND a.role = 'enhanced'"):
            assert read_image(path).shape == read_image(folder / f"{image}.png").shape
        n = db.execute("""SELECT COUNT(*) FROM "values" WHERE metric = 'residual/ratio'""").fetchone()[0]
        assert n == 2
