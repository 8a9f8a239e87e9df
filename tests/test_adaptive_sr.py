"""Adaptive down-sampling compression (codec ``adaptive_sr``): the branch rule on images whose
answer is known, exact header/rate accounting with an independent decoder, and an end-to-end run
whose per-image branch reaches the store, per_image.csv, results.json and the leaderboard."""

from __future__ import annotations

import io
import json
import math
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from qbench.codecs import build
from qbench.errors import ConfigError
from qbench.suite import load_suite

from .conftest import REPO, save, smooth_image


def flat(h: int = 48, w: int = 64) -> np.ndarray:
    """A gentle gradient: JPEG codes it almost losslessly at any quality."""
    ramp = np.linspace(100, 110, w)[None, :, None]
    return np.broadcast_to(np.round(ramp), (h, w, 3)).astype(np.uint8).copy()


def noise(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """White noise: JPEG at low quality is far below 33 dB."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def np_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def pil_jpeg(img: np.ndarray, q: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=q, subsampling=2)
    return buf.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_flat_image_is_coded_at_full_size_with_a_one_byte_header():
    img = flat()
    codec = build("adaptive_sr", {"threshold": 33})
    enc = codec.encode(img, 10)
    plain = pil_jpeg(img, 10)
    assert enc.side_info["branch"] == "full" and enc.side_info["scale"] == 1.0
    assert enc.side_info["pre_psnr"] == pytest.approx(np_psnr(img, pil_decode(plain)), abs=1e-9)
    assert enc.side_info["pre_psnr"] >= 33
    assert enc.data == bytes([100]) + plain          # header byte + the plain JPEG, nothing else
    assert np.array_equal(build("adaptive_sr", {}).decode(enc.data, channels=3), pil_decode(plain))


@pytest.mark.parametrize("select", ["best", "first"])
def test_noisy_image_at_low_quality_is_downscaled_and_decodes_without_the_encoder(select, one_torch_thread):
    from qbench_baselines.matlab_bicubic import imresize

    from qbench.images import quantize, to_tensor

    img = noise(47, 62)
    params = {"threshold": 33.0, "scales": [0.5, 0.7], "select": select}
    enc = build("adaptive_sr", params).encode(img, 10)
    info = enc.side_info
    pre = np_psnr(img, pil_decode(pil_jpeg(img, 10)))
    assert pre < 33 and info["pre_psnr"] == pytest.approx(pre, abs=1e-9)
    tried = info["psnr_after"]
    if select == "first":
        assert list(tried) == ["x0.5"] and info["branch"] == "x0.5"
    else:
        assert set(tried) == {"x0.5", "x0.7"} and info["branch"] == max(tried, key=tried.get)
    s = info["scale"]
    # header: scale in percent, original height and width; then the low-res JPEG
    assert enc.data[0] == round(100 * s) and struct.unpack("<HH", enc.data[1:5]) == (47, 62)
    low = pil_decode(enc.data[5:])
    assert low.shape == (math.ceil(47 * s), math.ceil(62 * s), 3) and list(low.shape[:2]) == info["coded_size"]
    # an independent reconstruction (plain JPEG decode + MATLAB bicubic up) equals a fresh decoder's
    expected = quantize(imresize(to_tensor(low), size=(47, 62)))[0]
    decoded = build("adaptive_sr", params).decode(enc.data, channels=3)
    assert np.array_equal(decoded, expected)
    assert tried[info["branch"]] == pytest.approx(np_psnr(img, decoded), abs=1e-9)


def test_threshold_and_psnr_protocol_are_parameters(one_torch_thread):
    img = smooth_image(5, 40, 56)
    low_bar = build("adaptive_sr", {"threshold": 5.0}).encode(img, 30)
    high_bar = build("adaptive_sr", {"threshold": 60.0, "scales": [0.7], "psnr": "y"}).encode(img, 30)
    assert low_bar.side_info["branch"] == "full" and high_bar.side_info["branch"] == "x0.7"
    assert high_bar.side_info["pre_psnr"] != pytest.approx(low_bar.side_info["pre_psnr"])   # Y vs RGB


def test_gray_images_and_other_upscalers(one_torch_thread):
    gray = noise(40, 40)[..., :1].copy()
    codec = build("adaptive_sr", {"scales": [0.5], "upscaler": "bicubic"})
    enc = codec.encode(gray, 5)
    assert enc.side_info["branch"] == "x0.5"
    out = codec.decode(enc.data, channels=1)
    assert out.shape == (40, 40, 1) and out.dtype == np.uint8


@pytest.mark.parametrize("params,match", [
    ({"scales": [1.5]}, "scale"), ({"scales": [0.555]}, "two decimals"), ({"scales": []}, "non-empty"),
    ({"codec": "adaptive_sr"}, "another registered codec"), ({"upscaler": "identity"}, "not a Rescaler"),
    ({"select": "oracle"}, "select"), ({"threshold": "high"}, "threshold"), ({"psnr": "lab"}, "psnr"),
    ({"codec": "jpeg", "codec_params": {"subsampling": "4:1:1"}}, "subsampling"), ({"scale": 0.5}, "valid"),
])
def test_bad_parameters_are_rejected(params, match):
    with pytest.raises(ConfigError, match=match):
        build("adaptive_sr", params)


def test_quality_ladder_and_rate_control_delegate_to_the_inner_codec():
    from qbench.codecs.rate import find_quality

    codec = build("adaptive_sr", {"threshold": 0.0})       # always full size: rate is JPEG's + 1 byte
    with pytest.raises(ConfigError):
        codec.check_quality(0)
    assert codec.integer_quality and codec.search_range() == (1.0, 100.0)
    img = smooth_image(9, 48, 64)
    q, enc = find_quality(codec, img, 2.0)
    assert enc.data[1:] == pil_jpeg(img, int(q))


def test_end_to_end_branch_per_image_in_store_csv_json_and_leaderboard(tmp_path, one_torch_thread):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    folder = tmp_path / "imgs"
    save(flat(48, 64), folder / "flat.png")
    save(noise(48, 64, 3), folder / "noisy.png")
    suite = parse_suite({
        "name": "asr", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
        "codecs": [{"name": "jpeg", "qualities": [10, 40]},
                   {"name": "adaptive_sr", "label": "asr_jpeg", "params": {"scales": [0.5]}, "qualities": [10, 40]}],
        "solvers": ["identity"], "metrics": ["psnr_rgb"], "anchor": "jpeg", "output": {"bootstrap": 50}})
    out = tmp_path / "out"
    res = Runner(suite, out, workers=0, progress=False).run()
    assert not res.failures
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT p.image, e.quality, e.nbytes, e.pixels, e.bpp, e.side_info, e.bytes_path "
                          "FROM plan p JOIN encodings e ON e.enc_key = p.enc_key WHERE p.codec = 'asr_jpeg'").fetchall()
    assert len(rows) == 4
    for image, quality, nbytes, pixels, bpp, side, path in rows:
        side = json.loads(side)
        assert side["branch"] == ("full" if image == "flat" else "x0.5"), (image, quality, side)
        data = Path(path).read_bytes()
        assert len(data) == nbytes and pixels == 48 * 64 and bpp == 8 * nbytes / (48 * 64)
        assert data[0] == (100 if image == "flat" else 50)
    write_reports(out)
    per = pd.read_csv(out / "per_image.csv")
    asr = per[per["codec"] == "asr_jpeg"].set_index(["image", "quality"])
    assert asr["codec_branch"].to_dict() == {("flat", 10.0): "full", ("flat", 40.0): "full",
                                             ("noisy", 10.0): "x0.5", ("noisy", 40.0): "x0.5"}
    assert per.loc[per["codec"] == "jpeg", "codec_branch"].isna().all()
    branches = json.loads((out / "results.json").read_text())["branches"]
    got = {(b["codec"], b["quality"], b["codec_branch"]): b["images"] for b in branches if b["codec"] == "asr_jpeg"}
    assert got == {("asr_jpeg", q, br): 1 for q in (10.0, 40.0) for br in ("full", "x0.5")}
    md = (out / "leaderboard.md").read_text()
    assert "## Branches and cost per image class" in md and "x0.5" in md
    assert "asr_jpeg" in pd.read_csv(out / "bd.csv")["codec"].tolist()      # BD-rate against plain JPEG


@pytest.mark.parametrize("name", ["adaptive_sr_kodak.yaml", "adaptive_sr_quickstart.yaml"])
def test_shipped_suites_validate(name):
    from qbench.runner.resolve import resolve_suite

    suite = load_suite(REPO / "suites" / name)
    resolve_suite(suite, name)
    assert {c.name for c in suite.codecs} == {"jpeg", "adaptive_sr"} and suite.anchor == "jpeg"
