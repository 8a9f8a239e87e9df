"""Known-answer RD tests: each lossy codec's defaults put its RD curve where the literature puts it.

On crops of the embedded colour photographs (astronaut, chelsea, coffee) and one gray one (camera),
every modern codec needs clearly fewer bits than baseline JPEG (4:2:0) for the same mean PSNR at
medium rates (about 0.4-1.5 bpp). On Kodak the same defaults give BD-rates against JPEG (PSNR-RGB)
of about -48% (JPEG 2000, 24 images), and on its first 8 images -36% (WebP), -50% (AVIF), -30%
(JPEG XL) and -55% (HEIF); the bounds
below are looser, for small crops and other library builds, but far from zero: a codec coded
without its colour transform (JPEG 2000 before ``mct``) lands near 0% and fails.
"""

import functools
import warnings

import numpy as np
import pytest

from qbench.codecs import build
from qbench.rd import OverlapWarning, bd_psnr, bd_rate, overlap_fraction

CROP = 192
IMAGES = (("astronaut", 3), ("chelsea", 3), ("coffee", 3), ("camera", 1))

# codec -> (params, quality ladder at medium rates, BD-rate bound in percent against JPEG)
LADDERS = {
    "jpeg": ({}, (10, 20, 35, 55, 75), None),
    "j2k": ({}, (42.0, 28.0, 19.0, 13.0), -20.0),
    "webp": ({}, (20, 45, 70, 88), -25.0),
    "avif": ({}, (38, 50, 62, 74), -30.0),
    "jxl": ({}, (8.0, 5.0, 3.0, 1.7), -12.0),
    "heif": ({}, (31, 39, 47, 55), -30.0),
}


@functools.lru_cache(maxsize=1)
def crops() -> tuple[np.ndarray, ...]:
    """Centre crops of the embedded samples (RGB, and gray for ``camera``)."""
    from pathlib import Path

    import skimage

    from qbench.images import read_image

    out = []
    for name, channels in IMAGES:
        img = read_image(Path(skimage.__file__).parent / "data" / f"{name}.png", "rgb" if channels == 3 else "gray")
        h, w = img.shape[:2]
        y, x = (h - CROP) // 2, (w - CROP) // 2
        out.append(np.ascontiguousarray(img[y:y + CROP, x:x + CROP]))
    return tuple(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@functools.lru_cache(maxsize=None)
def curve(name: str, params: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    """Mean bpp and mean PSNR over the crops at each setting of the codec's ladder."""
    codec = build(name, dict(params))
    rates, dists = [], []
    for q in LADDERS[name][1]:
        r, d = [], []
        for img in crops():
            enc = codec.encode(img, q)
            out = codec.decode(enc.data, channels=img.shape[2])
            r.append(8.0 * len(enc.data) / (img.shape[0] * img.shape[1]))
            d.append(psnr(img, out))
        rates.append(np.mean(r))
        dists.append(np.mean(d))
    return np.asarray(rates), np.asarray(dists)


@pytest.mark.parametrize("name", [n for n, (_, _, bound) in LADDERS.items() if bound is not None])
def test_codec_beats_baseline_jpeg_by_the_literature_margin(name):
    bound = LADDERS[name][2]
    jpeg, test = curve("jpeg"), curve(name)
    for rates, _ in (jpeg, test):                              # medium rates, about the same span
        assert 0.35 < rates.min() < 0.55 and 1.3 < rates.max() < 2.0
    # BD-rate integrates over the shared PSNR range: JPEG's upper and the codec's lower part
    assert overlap_fraction(jpeg[1], test[1]) > 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        rate = bd_rate(*jpeg, *test)
        gain = bd_psnr(*jpeg, *test)
    assert rate < bound, f"{name}: BD-rate {rate:+.1f}% against JPEG, expected below {bound}%"
    assert gain > 0.5, f"{name}: BD-PSNR {gain:+.2f} dB against JPEG"


def test_j2k_without_colour_transform_is_no_better_than_jpeg():
    """The colour transform is what makes JPEG 2000 beat JPEG on RGB images: coded channel by
    channel it is within a few percent of JPEG (the old default), with it far below."""
    plain = curve("j2k", (("mct", False),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)
        assert bd_rate(*curve("jpeg"), *plain) > -15.0
        assert bd_rate(*plain, *curve("j2k")) < -20.0
