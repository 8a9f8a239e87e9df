import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from qbench.errors import ImageError
from qbench.images import pixel_hash, read_image

from .conftest import REPO, smooth_image


def test_rgb_and_gray_policies(tmp_path):
    rgb = smooth_image(0, 20, 30)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    assert read_image(tmp_path / "c.png").shape == (20, 30, 3)
    assert read_image(tmp_path / "g.png").shape == (20, 30, 1)
    assert read_image(tmp_path / "g.png", "rgb").shape == (20, 30, 3)
    gray = read_image(tmp_path / "c.png", "gray")
    assert gray.shape == (20, 30, 1)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(gray[..., 0], expected)


def test_palette_gray_palette_is_gray_and_colour_palette_is_rgb(tmp_path):
    g = Image.fromarray(smooth_image(1, 16, 16)[..., 0]).convert("P")
    g.putpalette([v for i in range(256) for v in (i, i, i)])
    g.save(tmp_path / "gp.png")
    assert read_image(tmp_path / "gp.png").shape == (16, 16, 1)
    c = Image.fromarray(smooth_image(2, 16, 16)).quantize(16)
    c.save(tmp_path / "cp.png")
    arr = read_image(tmp_path / "cp.png")
    assert arr.shape == (16, 16, 3)
    assert np.array_equal(arr, np.asarray(c.convert("RGB")))


def test_alpha_rules(tmp_path):
    rgb = smooth_image(3, 10, 12)
    opaque = np.dstack([rgb, np.full((10, 12), 255, np.uint8)])
    Image.fromarray(opaque, "RGBA").save(tmp_path / "o.png")
    assert np.array_equal(read_image(tmp_path / "o.png"), rgb)
    trans = opaque.copy()
    trans[0, 0, 3] = 10
    Image.fromarray(trans, "RGBA").save(tmp_path / "t.png")
    with pytest.raises(ImageError, match="transparent"):
        read_image(tmp_path / "t.png")


def test_16bit_is_rounded_to_8bit(tmp_path):
    v = np.array([[0, 257, 65535, 1000]], dtype=np.uint16)
    im = Image.new("I;16", (4, 1))
    im.frombytes(v.astype("<u2").tobytes(), "raw", "I;16")
    im.save(tmp_path / "s.png")
    out = read_image(tmp_path / "s.png")
    assert out[..., 0].tolist() == [[0, 1, 255, round(1000 / 257)]]


def test_broken_file_gives_image_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageError, match="cannot decode"):
        read_image(tmp_path / "x.png")


def test_pixel_hash_matches_manifest_convention_and_survives_reencoding(tmp_path):
    img = smooth_image(5, 24, 40)
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(img).save(tmp_path / "a.bmp")
    h = hashlib.sha256(np.asarray(Image.open(tmp_path / "a.png")).tobytes()).hexdigest()
    assert pixel_hash(read_image(tmp_path / "a.png")) == h == pixel_hash(read_image(tmp_path / "a.bmp"))


def test_pinned_manifests_are_packaged():
    from qbench.datasets.builtin import load_manifest

    kodak = load_manifest("kodak")
    assert len(kodak) == 24 and len(load_manifest("classic5")) == 5
    assert len(load_manifest("live1_gray")) == 29 == len(load_manifest("live1_color"))
    assert all(len(v["pixel_sha256"]) == 64 for v in kodak.values())
    shared = REPO.parent / "shared" / "datasets" / "MANIFEST.json"
    if shared.is_file():
        m = json.loads(shared.read_text())
        assert m["kodak/kodim01.png"]["pixel_sha256"] == kodak["kodim01.png"]["pixel_sha256"]
