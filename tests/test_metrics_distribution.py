"""FID/KID: math against closed forms, and end to end on a random-weight Inception-v3."""

import numpy as np
import pytest

from qbench.metrics.distribution import FeatureStats, fid_from_stats, kid_from_features, patches

from .conftest import basic_suite, save, smooth_image


def stats_with(mu: np.ndarray, cov: np.ndarray, n: int = 1000) -> FeatureStats:
    st = FeatureStats(dim=len(mu))
    st.n = n
    st.sum = n * mu
    st.outer = (n - 1) * cov + n * np.outer(mu, mu)
    return st


def test_running_stats_equal_numpy_mean_and_cov():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))
    st = FeatureStats(dim=12)
    for chunk in np.array_split(x, 7):
        st.update(chunk)
    mu, cov = st.mean_cov()
    assert np.allclose(mu, x.mean(0)) and np.allclose(cov, np.cov(x, rowvar=False))


def test_fid_equals_closed_form_frechet_distance_of_gaussians():
    rng = np.random.default_rng(1)
    d = 16
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))        # shared eigenbasis: covariances commute
    d1, d2 = rng.uniform(0.2, 3.0, d), rng.uniform(0.2, 3.0, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    c1, c2 = q @ np.diag(d1) @ q.T, q @ np.diag(d2) @ q.T
    closed = np.sum((mu1 - mu2) ** 2) + np.sum(d1 + d2 - 2 * np.sqrt(d1 * d2))
    assert fid_from_stats(stats_with(mu1, c1), stats_with(mu2, c2)) == pytest.approx(closed, rel=1e-6)
    assert fid_from_stats(stats_with(mu1, c1), stats_with(mu1, c1)) == pytest.approx(0, abs=1e-6)


def test_kid_equals_direct_unbiased_mmd():
    rng = np.random.default_rng(2)
    f1 = rng.normal(size=(60, 32))
    f2 = rng.normal(0.3, 1.2, size=(60, 32))
    d = f1.shape[1]

    def k(a, b):
        return (a @ b.T / d + 1) ** 3

    m = len(f1)
    kxx, kyy, kxy = k(f1, f1), k(f2, f2), k(f1, f2)
    mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    assert kid_from_features(f1, f2) == pytest.approx(mmd, rel=1e-9)


def test_patches_are_non_overlapping_tiles():
    img = np.arange(600 * 520 * 3, dtype=np.uint32).reshape(600, 520, 3).astype(np.uint8)
    ps = patches(img, 256)
    assert len(ps) == 4 and all(p.shape == (256, 256, 3) for p in ps)
    assert np.array_equal(ps[1], img[0:256, 256:512])


_ARCHIVE: dict[str, bytes] = {}


def make_random_inception(folder):
    """clean-fid's TorchScript layout (a module with ``.layers``) around torchvision's Inception-v3
    trunk with random weights: the real architecture, no pretrained values (built once per test
    process, then the same bytes are written)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inception-2015-12-05.pt"
    if "archive" not in _ARCHIVE:
        _build_random_inception(path)
        _ARCHIVE["archive"] = path.read_bytes()
    else:
        path.write_bytes(_ARCHIVE["archive"])
    return path


def _build_random_inception(path):
    import torch
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    net = inception_v3(weights=None, aux_logits=False, init_weights=False)   # torch's default init
    # batch-norm statistics measured on a batch of images (smooth noise at 299 px) so activations
    # keep their scale through the trunk: with the default running statistics the features of
    # every image are ~1e-8 and FID/KID differences would be rounding noise
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None                            # a plain average of the batches seen
    calib = torch.nn.functional.interpolate(torch.rand(8, 3, 38, 38) * 2 - 1, size=(299, 299), mode="bilinear")
    with torch.no_grad():
        net.train()(calib)
    net.eval()
    trunk = torch.nn.Sequential(
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1, net.Conv2d_3b_1x1,
        net.Conv2d_4a_3x3, net.maxpool2, net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
        net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c,
        net.avgpool)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = trunk

        def forward(self, x):
            return self.layers(x)

    torch.jit.script(Wrapper()).save(str(path))


def install_random_inception(monkeypatch):
    """A random-weight Inception archive where qbench looks for clean-fid's (the per-test
    ``$QBENCH_CACHE``), with the catalogue's pin swapped for this file's sha256."""
    import dataclasses

    from qbench.metrics import weights as metric_weights
    from qbench.metrics.distribution import inception_path
    from qbench.weights import sha256_file

    path = make_random_inception(inception_path().parent)
    monkeypatch.setattr(metric_weights, "INCEPTION",
                        dataclasses.replace(metric_weights.INCEPTION, sha256=sha256_file(path)))
    return path


def test_the_random_inception_gives_features_of_a_real_scale(tmp_path, monkeypatch, one_torch_thread):
    """The tests' stand-in network separates images well above float32 rounding (its batch-norm
    statistics are measured): FID/KID values in tests are then differences of real magnitude."""
    from skimage import data

    from qbench.metrics.distribution import InceptionExtractor

    install_random_inception(monkeypatch)
    ex = InceptionExtractor("cpu")
    feats = ex.features([ex.prepare(img) for img in (data.astronaut(), data.chelsea(), data.coffee())])
    assert feats.shape == (3, 2048)
    assert 0.1 < np.abs(feats).mean() < 1e4
    assert feats.std(axis=0).mean() > 0.05 * np.abs(feats).mean()


def test_fid_kid_end_to_end_and_resume(tmp_path, monkeypatch, one_torch_thread):
    import pandas as pd

    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    install_random_inception(monkeypatch)
    folder = tmp_path / "imgs"
    for i in range(2):                                  # the fewest images FID/KID accept: few Inception passes
        save(smooth_image(20 + i, 260, 300), folder / f"{i}.png")
    data = basic_suite(folder, metrics=["psnr_rgb", "fid", "kid", "fid_patch256"],
                       codecs=[{"name": "jpeg", "qualities": [5, 90]}])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures and not res.skipped_metrics
    write_reports(out)
    summary = pd.read_csv(out / "summary.csv")
    assert {"fid", "kid", "fid_patch256"} <= set(summary.columns)
    low, high = summary.set_index("quality").loc[5.0], summary.set_index("quality").loc[90.0]
    assert np.isfinite(summary[["fid", "kid", "fid_patch256"]].to_numpy()).all()
    # heavier compression is further from the originals, by a margin rounding noise cannot make
    assert low["fid"] - high["fid"] > 0.1 * low["fid"] > 0
    assert low["fid_patch256"] - high["fid_patch256"] > 0.1 * low["fid_patch256"] > 0
    again = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not again.computed_anything                 # set metrics are cached too


def test_missing_weights_skip_the_metric_and_finish_the_rest(image_folder, tmp_path, monkeypatch):
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    data = basic_suite(image_folder, metrics=["psnr_y", "lpips", "fid"])
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert set(res.skipped_metrics) == {"lpips", "fid"} and not res.failures
    write_reports(out)
    md = (out / "leaderboard.md").read_text()
    assert "## Skipped metrics" in md and "`lpips`" in md and "alexnet-owt-7be5be79.pth" in md
    assert "inception-2015-12-05.pt" in md
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    assert "psnr_y" in summary.columns and summary["psnr_y"].notna().all()


def test_frechet_matches_clean_fid_on_well_posed_covariances():
    from cleanfid.fid import frechet_distance as clean

    from qbench.metrics.distribution import frechet_distance

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 24)), rng.normal(0.2, 1.1, size=(400, 24)) @ rng.normal(size=(24, 24))
    args = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(*args) == pytest.approx(clean(*args), rel=1e-6)


def test_low_rank_path_equals_the_exact_small_sample_value():
    """Few samples in a high dimension (the small-set case). Oracle: with centred rows A, B,
    ``tr((S1 S2)^(1/2))`` is the nuclear norm of ``A B^T / sqrt((n1 - 1)(n2 - 1))``. The
    rank-bounded factorisation matches it; the full decomposition too, less tightly (the square
    roots of its rounding-level eigenvalues add up)."""
    from qbench.metrics.distribution import frechet_distance

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(6, 256)), rng.normal(0.5, 2.0, size=(9, 256))
    sa, sb = FeatureStats(dim=256), FeatureStats(dim=256)
    sa.update(a)
    sb.update(b)
    (m1, c1), (m2, c2) = sa.mean_cov(), sb.mean_cov()
    ac, bc = a - a.mean(0), b - b.mean(0)
    nuclear = np.linalg.svd(ac @ bc.T / np.sqrt(5 * 8), compute_uv=False).sum()
    exact = np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * nuclear
    assert frechet_distance(m1, c1, m2, c2, rank1=5) == pytest.approx(exact, rel=1e-12)
    assert fid_from_stats(sa, sb) == pytest.approx(exact, rel=1e-12)
    assert fid_from_stats(sb, sa) == pytest.approx(exact, rel=1e-12)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(exact, rel=1e-7)


def test_inception_is_cached_under_qbench_cache_and_pinned(isolated_cache):
    from qbench.metrics.distribution import inception_path
    from qbench.metrics.weights import INCEPTION

    assert inception_path() == isolated_cache / "weights" / "metrics" / "cleanfid" / "inception-2015-12-05.pt"
    assert INCEPTION.sha256 and len(INCEPTION.sha256) == 64 and INCEPTION.root == "qbench"


def test_inception_archive_loads_only_when_it_matches_the_pin(monkeypatch, one_torch_thread):
    """A locally made TorchScript archive: refused (not loaded) under the published pin, loaded
    and run under its own sha256; the pin enters the metric version."""
    import dataclasses

    import torch

    from qbench.errors import WeightsError
    from qbench.metrics import build
    from qbench.metrics import weights as metric_weights
    from qbench.metrics.distribution import InceptionExtractor, inception_path
    from qbench.weights import load_torchscript, sha256_file

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return self.layers(x)

    path = inception_path()
    path.parent.mkdir(parents=True)
    torch.jit.script(Tiny()).save(str(path))
    loaded = []
    real_load = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loaded.append(a) or real_load(*a, **k))
    with pytest.raises(WeightsError, match="expected f58cb9b6"):
        InceptionExtractor()
    with pytest.raises(WeightsError, match="expected f58cb9b6"):
        build("fid")                                       # the metric is skipped, with the reason
    assert not loaded                                      # a mismatching archive is never deserialised
    unpinned = dataclasses.replace(metric_weights.INCEPTION, sha256=None)
    with pytest.raises(WeightsError, match="no sha256 pin"):
        load_torchscript(unpinned, path)

    own = sha256_file(path)
    monkeypatch.setattr(metric_weights, "INCEPTION", dataclasses.replace(metric_weights.INCEPTION, sha256=own))
    feats = InceptionExtractor().model(torch.full((2, 2048, 3, 3), 64.0))
    assert len(loaded) == 1 and feats.shape == (2, 2048)
    assert torch.allclose(feats, torch.full((2, 2048), -0.5))   # (64 - 128) / 128, pooled
    assert build("fid").preset["inception_sha256"] == own
