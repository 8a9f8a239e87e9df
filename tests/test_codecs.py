"""Every codec roundtrips gray and RGB odd-size images; rate falls with quality; errors are clear."""

import sys

import numpy as np
import pytest

from qbench.codecs import REGISTRY, build
from qbench.errors import CodecError, ConfigError

from .conftest import smooth_image

# codec -> (params, low-quality setting, high-quality setting)
LADDERS = {
    "jpeg": ({}, 10, 90),
    "webp": ({}, 10, 90),
    "avif": ({"speed": 9}, 10, 90),
    "jxl": ({"effort": 3}, 8.0, 1.0),
    "heif": ({}, 10, 90),
    "j2k": ({"mode": "rates"}, 80, 5),
}


@pytest.mark.parametrize("name", sorted(LADDERS))
@pytest.mark.parametrize("channels", [1, 3])
def test_roundtrip_odd_size_and_rate_order(name, channels):
    params, low, high = LADDERS[name]
    codec = build(name, params)
    img = smooth_image(7, 61, 83, channels)
    small, big = codec.encode(img, low), codec.encode(img, high)
    for enc in (small, big):
        out = codec.decode(enc.data, channels=channels)
        assert out.shape == img.shape and out.dtype == np.uint8
    assert len(small.data) < len(big.data)
    err_low = np.abs(codec.decode(small.data, channels).astype(int) - img).mean()
    err_high = np.abs(codec.decode(big.data, channels).astype(int) - img).mean()
    assert err_high < err_low
    assert codec.spec()["versions"]  # library versions enter the cache key


def test_all_builtin_codecs_registered():
    assert {"jpeg", "webp", "avif", "jxl", "heif", "j2k", "png", "external"} <= set(REGISTRY.names())


@pytest.mark.parametrize("channels", [1, 3])
def test_png_is_lossless_and_level_changes_only_size(channels):
    codec = build("png", {})
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(37, 53, channels), dtype=np.uint8)
    img[:, :20] = 128                                   # a compressible part, so levels differ in size
    fast, best = codec.encode(img, 0), codec.encode(img, 9)
    assert len(best.data) < len(fast.data)
    for enc in (fast, best):
        np.testing.assert_array_equal(codec.decode(enc.data, channels=channels), img)
    with pytest.raises(ConfigError):
        codec.encode(img, 10)


def test_png_rate_control_searches_toward_fewer_bytes_at_higher_levels():
    """A higher compress_level gives fewer bytes: a target at level 0's rate must find level 0."""
    from qbench.codecs.rate import find_quality

    codec = build("png", {})
    img = smooth_image(3, 64, 64)
    sizes = {q: len(codec.encode(img, q).data) for q in range(10)}
    assert sizes[0] > sizes[9] and not codec.rate_increases_with_quality()
    chosen, enc = find_quality(codec, img, 8.0 * sizes[0] / (64 * 64))
    assert len(enc.data) == sizes[0] and chosen == 0
    chosen, enc = find_quality(codec, img, 8.0 * sizes[9] / (64 * 64))
    assert len(enc.data) == min(sizes.values())


def test_j2k_db_mode_targets_psnr():
    from qbench.metrics import build as metric

    codec = build("j2k", {"mode": "dB"})
    img = smooth_image(8, 96, 96)
    psnr = [metric("psnr_rgb").compute(img, codec.decode(codec.encode(img, q).data)) for q in (28, 36)]
    assert psnr[0] < psnr[1]


def test_jpeg_opencv_backend_and_custom_tables():
    img = smooth_image(9, 64, 80)
    cv = build("jpeg", {"backend": "opencv"})
    enc = cv.encode(img, 30)
    assert cv.decode(enc.data, 3).shape == img.shape and enc.side_info["qtables"]
    flat = [[16] * 64, [16] * 64]
    custom = build("jpeg", {"qtables": flat})
    enc50 = custom.encode(img, 50)     # quality 50 keeps the base tables unscaled
    assert enc50.side_info["qtables"][0] == [16] * 64
    with pytest.raises(ConfigError, match="qtables"):
        build("jpeg", {"qtables": [[0] * 64]})


def test_jpeg_custom_tables_natural_order_and_ijg_scaling():
    base = [[8 + (i % 8) + 2 * (i // 8) for i in range(64)]]   # asymmetric: transposition would show
    codec = build("jpeg", {"qtables": base})
    tables = codec.encode(smooth_image(4, 40, 48, 1), 25).side_info["qtables"]
    assert tables[0] == [min(255, (v * 200 + 50) // 100) for v in base[0]]   # IJG scale 5000/25 = 200%


def test_jpeg_opencv_backend_equals_cv2_imencode():
    import cv2

    img = smooth_image(6, 37, 53)
    ok, ref = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok and build("jpeg", {"backend": "opencv"}).encode(img, 40).data == ref.tobytes()
    gray = smooth_image(6, 37, 53, 1)
    codec444 = build("jpeg", {"backend": "opencv", "subsampling": "4:4:4"})
    assert len(codec444.encode(img, 40).data) > len(ref.tobytes())   # full-resolution chroma
    assert codec444.decode(codec444.encode(gray, 40).data, 1).shape == gray.shape


def test_jpeg_side_info_has_the_standard_tables():
    enc = build("jpeg").encode(smooth_image(1, 32, 32), 50)
    assert enc.side_info["qtables"][0][0] == 16  # IJG luminance table at quality 50


def test_external_codec_runs_argument_lists(tmp_path):
    # a tiny "codec" program: copies PNG bytes through, as a stand-in for bpgenc/bpgdec
    prog = tmp_path / "copycodec.py"
    prog.write_text("import shutil, sys\nshutil.copyfile(sys.argv[1], sys.argv[2])\n")
    codec = build("external", {"encode": [sys.executable, str(prog), "{input}", "{output}"],
                               "decode": [sys.executable, str(prog), "{input}", "{output}"],
                               "suffix": ".png"})
    img = smooth_image(2, 31, 45)
    enc = codec.encode(img, 1)
    assert np.array_equal(codec.decode(enc.data, 3), img)


def test_external_codec_missing_binary_is_a_clear_error():
    codec = build("external", {"encode": ["no-such-bpgenc", "{input}"], "decode": ["no-such-bpgdec"]})
    with pytest.raises(CodecError, match="no-such-bpgenc.*not found"):
        codec.encode(smooth_image(3, 16, 16), 30)
    with pytest.raises(ConfigError, match="list of arguments"):
        build("external", {"encode": "bpgenc -q 30 in.png", "decode": ["x"]})
    with pytest.raises(ConfigError, match="unknown placeholder"):
        build("external", {"encode": ["bpgenc", "{inptu}"], "decode": ["bpgdec"]})


def test_external_codec_rate_control(tmp_path):
    """target_bpp over an external program: a JPEG 'encoder' script whose knob is a QP-like value."""
    from qbench.codecs.rate import find_quality

    enc = tmp_path / "enc.py"
    enc.write_text("import sys\nfrom PIL import Image\n"
                   "Image.open(sys.argv[1]).save(sys.argv[2], 'JPEG', quality=101 - int(sys.argv[3]))\n")
    dec = tmp_path / "dec.py"
    dec.write_text("import sys\nfrom PIL import Image\nImage.open(sys.argv[1]).save(sys.argv[2])\n")
    params = {"encode": [sys.executable, str(enc), "{input}", "{output}", "{quality}"],
              "decode": [sys.executable, str(dec), "{input}", "{output}"], "suffix": ".jpg"}
    with pytest.raises(ConfigError, match="search_range"):
        find_quality(build("external", params), smooth_image(4, 48, 64), 1.0)
    codec = build("external", {**params, "search_range": [1, 100], "integer_quality": True,
                               "rate_increases": False})
    img = smooth_image(4, 48, 64)
    q, out = find_quality(codec, img, 2.0)
    ref, _ = find_quality(build("jpeg"), img, 2.0)
    assert abs((101 - q) - ref) <= 1 and float(q).is_integer()     # the same JPEG, mirrored knob
    assert codec.decode(out.data, 3).shape == img.shape


def test_codec_defaults_are_explicit_parameters_of_the_spec():
    """Defaults that change the bitstream are parameters, so they enter cache keys and the table."""
    assert build("j2k").spec()["params"]["mct"] is True
    assert build("j2k", {"mct": False}).spec() != build("j2k").spec()
    assert build("heif").spec()["params"] == {"chroma": "420", "preset": "slow", "tune": "ssim"}
    assert build("avif").spec()["params"] == {"speed": 6, "subsampling": "4:2:0"}
    assert build("webp").spec()["params"] == {"method": 4}
    assert build("jxl").spec()["params"] == {"effort": 7}
    for name, params in (("j2k", {"mct": 1}), ("heif", {"tune": "grain"}), ("heif", {"preset": "fastest"})):
        with pytest.raises(ConfigError):
            build(name, params)


def test_heif_chroma_may_be_written_as_a_number():
    """YAML reads ``chroma: 444`` as an int; the codec takes it as it takes "444"."""
    from qbench import codecs

    assert codecs.build("heif", {"chroma": 444}).params["chroma"] == 444
    with pytest.raises(Exception):
        codecs.build("heif", {"chroma": 411})
