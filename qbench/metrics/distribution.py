"""Distribution metrics: FID (clean-fid's "clean" mode) and KID, over a whole image set.

Protocol (clean-fid, Parmar et al. 2022): each image (gray replicated to RGB) is resized to
299x299 with PIL bicubic on float values ("clean" resizing), fed to the TorchScript
Inception-v3 of clean-fid (pool3 features, 2048-d; the file is sha256-pinned and verified before
``torch.jit.load``, see :func:`qbench.weights.load_torchscript`), and

* FID = Frechet distance between Gaussians fitted to reference and test features (computed
  with symmetric eigendecompositions, equal to clean-fid's formula where that is well-posed and
  still real on rank-deficient small sets; see :func:`frechet_distance`). Features accumulate as running sums and sums of outer
  products (:class:`FeatureStats`), never as a list of images.
* KID = unbiased MMD^2 with the cubic polynomial kernel (``cleanfid.fid.kernel_distance``: 100
  subsets of at most 1000 samples, seeded). KID needs the feature vectors themselves: they are
  appended to a temporary file (8 KiB per image or patch, float32 as before) while features are
  extracted; the KID computation reads them back (whole up to 128 MiB a set, else only each
  subset's rows), so memory does not grow with the set and the values are unchanged.

``*_patch256`` variants split every image into non-overlapping 256x256 patches (as HiFiC and the
compression-bias literature do), so that small test sets still give many samples.

Bias: FID is strongly biased upwards for small samples (its expectation falls roughly as 1/N,
and the covariance of 2048-d features is rank-deficient below 2048 samples), so FID values are
comparable only between rows with the same number of images/patches (the ``n`` stored with each
value); prefer KID, which is unbiased, or patch variants for sets of tens of images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Metric

FEATURE_DIM = 2048
#: KID's kept feature vectors of one set are read into memory whole up to this size (16384
#: vectors of 2048 float32), else row by row: a fixed bound whatever the set's size.
KEPT_IN_MEMORY = 128 << 20


class FeatureStats:
    """Running mean / covariance of feature vectors (float64 sums).

    With ``keep`` (KID needs the vectors themselves) each vector is also appended, as float32, to
    an unnamed temporary file in ``spill_dir`` (the system's temporary folder when None): memory
    holds only the fixed-size sums however many images a set has, and :meth:`kept` reads rows back.
    """

    def __init__(self, dim: int = FEATURE_DIM, keep: bool = False, spill_dir: str | Path | None = None):
        self.n = 0
        self.sum = np.zeros(dim)
        self.outer = np.zeros((dim, dim))
        self.keep = keep
        self._file = None
        if keep:
            import tempfile

            self._file = tempfile.TemporaryFile(dir=spill_dir)     # removed when closed or collected

    def update(self, feats: np.ndarray) -> None:
        """Add a batch of feature vectors ``(n, d)`` to the running sums (and to the kept rows)."""
        f = np.asarray(feats, dtype=np.float64)
        self.n += len(f)
        self.sum += f.sum(axis=0)
        self.outer += f.T @ f
        if self._file is not None:
            self._file.seek(0, 2)
            self._file.write(np.ascontiguousarray(f, dtype=np.float32).tobytes())
            self._file.flush()

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased covariance of the features seen (at least two)."""
        if self.n < 2:
            raise ValueError(f"need at least 2 feature vectors, have {self.n}")
        mu = self.sum / self.n
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return mu, cov

    def kept(self, max_bytes: int = KEPT_IN_MEMORY) -> KeptRows:
        """The kept feature vectors (no rows when ``keep`` was off), read from their file: all at
        once when they take at most ``max_bytes`` (as float32), else row by row."""
        return KeptRows(self._file, self.n if self._file is not None else 0, len(self.sum), max_bytes)

    def features(self) -> np.ndarray:
        """Every kept feature vector as one float32 array (``(0, d)`` when none were kept)."""
        rows = self.kept()
        return rows[np.arange(len(rows))].astype(np.float32)

    def close(self) -> None:
        """Remove the file of kept rows."""
        if self._file is not None:
            self._file.close()
            self._file = None


class KeptRows:
    """Feature vectors stored as float32 rows in a file: ``shape`` and ``rows[indices]`` (float64,
    in the order asked), all that clean-fid's ``kernel_distance`` reads of its inputs. A file of at
    most ``max_bytes`` is read whole on first use and held while this object lives (one KID
    value); a larger one row by row, so only the rows asked for are in memory."""

    def __init__(self, file, n: int, dim: int, max_bytes: int = 0):
        self.file, self.shape = file, (n, dim)
        self._row = dim * 4
        self._all = None if n * self._row > max_bytes else np.empty((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        import os

        idx = np.atleast_1d(np.arange(self.shape[0])[index])      # bounds, negatives as NumPy has them
        if self._all is not None:
            if len(self._all) < self.shape[0]:
                buf = os.pread(self.file.fileno(), self.shape[0] * self._row, 0)
                if len(buf) != self.shape[0] * self._row:
                    raise OSError(f"kept feature file: read {len(buf)} of {self.shape[0] * self._row} bytes")
                self._all = np.frombuffer(buf, dtype=np.float32).reshape(self.shape)
            return self._all[idx].astype(np.float64)
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        for j, i in enumerate(idx):
            out[j] = np.frombuffer(os.pread(self.file.fileno(), self._row, int(i) * self._row), dtype=np.float32)
        return out.astype(np.float64)


def psd_factor(s: np.ndarray, rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(w, V)`` with ``s = V diag(w) V^T`` for a symmetric PSD ``s`` (negative rounding clipped).

    ``rank`` is an upper bound on the rank (a sample covariance of ``n`` vectors has rank at most
    ``n - 1``): when it is well below the dimension only those leading eigenpairs are computed
    (ARPACK, to machine precision), which turns a 2048-d decomposition of seconds into milliseconds;
    the eigenvalues left out are zero, so nothing changes in the results.
    """
    dim = len(s)
    if rank is not None and 1 <= rank < dim // 4:
        from scipy.sparse.linalg import eigsh

        w, v = eigsh(s, k=rank, which="LA", tol=0)
    else:
        w, v = np.linalg.eigh(s)
    return np.clip(w, 0, None), v


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray,
                     rank1: int | None = None) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, via symmetric eigendecompositions.

    ``tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2))``, whose argument is symmetric PSD, so
    the result stays real and finite for the rank-deficient covariances of small sets (where
    ``scipy.linalg.sqrtm``, as clean-fid calls it, returns large imaginary parts and clean-fid raises).
    With ``S1 = V W V^T`` (``V`` orthonormal columns), the nonzero eigenvalues of
    ``S1^(1/2) S2 S1^(1/2)`` are those of the small matrix ``W^(1/2) V^T S2 V W^(1/2)``; ``rank1``
    bounds the rank of ``S1`` (see :func:`psd_factor`).
    """
    w, v = psd_factor(s1, rank1)
    r = np.sqrt(w)
    small = (v.T @ s2 @ v) * np.outer(r, r)
    ev = np.linalg.eigvalsh((small + small.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(ev, 0, None)).sum())
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    """FID of two feature sets; the set with fewer samples is the one decomposed (it is symmetric)."""
    if b.n < a.n:
        a, b = b, a
    mu1, s1 = a.mean_cov()
    mu2, s2 = b.mean_cov()
    return frechet_distance(mu1, s1, mu2, s2, rank1=a.n - 1)


def kid_from_features(f1, f2, seed: int = 0) -> float:
    """KID between two feature sets by clean-fid's kernel distance, seeded (NumPy's global state
    restored). ``f1``/``f2``: arrays, or :class:`KeptRows` (read by subset, never whole)."""
    from cleanfid.fid import kernel_distance

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        f1, f2 = (f if isinstance(f, KeptRows) else np.asarray(f).astype(np.float64) for f in (f1, f2))
        return float(kernel_distance(f1, f2))
    finally:
        np.random.set_state(state)


def patches(img: np.ndarray, size: int = 256) -> list[np.ndarray]:
    """Non-overlapping ``size`` x ``size`` patches in raster order (the remainder is dropped)."""
    h, w = img.shape[:2]
    return [img[y:y + size, x:x + size] for y in range(0, h - size + 1, size)
            for x in range(0, w - size + 1, size)]


def inception_path() -> Path:
    """Where clean-fid's Inception lives: ``$QBENCH_CACHE/weights/metrics/cleanfid``."""
    from ..weights import local_path
    from .weights import INCEPTION

    return local_path(INCEPTION)


class InceptionExtractor:
    """clean-fid's Inception-v3 feature extractor (``InceptionV3W`` with ``resize_inside=False``:
    ``(x - 128) / 128`` then the archive's ``layers``) on the pinned, verified local archive."""

    def __init__(self, device: str = "cpu", batch_size: int = 16):
        from ..weights import load_torchscript
        from .weights import INCEPTION

        base = load_torchscript(INCEPTION, inception_path(), device).eval()
        self.layers = base.layers
        self.resize = _clean_resizer()
        self.device = device
        self.batch_size = batch_size

    def model(self, x):
        """Features of a batch already resized to 299x299, values 0..255 (clean-fid's forward)."""
        return self.layers.forward((x - 128) / 128).view((x.shape[0], FEATURE_DIM))

    def prepare(self, img: np.ndarray) -> np.ndarray:
        """One image as the network takes it: RGB, resized to 299x299 (CHW float32, 1 MiB)."""
        rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        return self.resize(np.ascontiguousarray(rgb)).transpose(2, 0, 1)

    def __call__(self, imgs: list[np.ndarray]) -> np.ndarray:
        """Features of ``imgs`` (``(n, 2048)`` float64), ``batch_size`` at a time."""
        return self.features([self.prepare(img) for img in imgs])

    def features(self, prepared: list[np.ndarray]) -> np.ndarray:
        """Features of images already :meth:`prepare`\ d, ``batch_size`` at a time."""
        import torch

        out = []
        for i in range(0, len(prepared), self.batch_size):
            t = torch.from_numpy(np.stack(prepared[i:i + self.batch_size]).astype(np.float32)).to(self.device)
            # plain TorchScript interpretation: the profiling executor re-specialises the graph for
            # every new batch shape (slow first calls on CPU) and fusion does not change a conv net's values
            with torch.inference_mode(), torch.jit.optimized_execution(False):
                out.append(self.model(t).cpu().numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def _clean_resizer():
    from cleanfid.resize import build_resizer

    return build_resizer("clean")


class DistributionMetric(Metric):
    """FID or KID between the pristine set and a solver x codec point's outputs."""

    kind = "distribution"
    libraries = ("clean-fid",)      # its "clean" resizer prepares every image

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        super().__init__(name, preset, crop_border)
        if self.preset.get("type") not in ("fid", "kid"):
            raise ConfigError(f"metric {name!r}: type must be fid or kid")
        self.patch = int(self.preset.get("patch", 0))
        from ..weights import verify
        from .weights import INCEPTION

        verify(INCEPTION, inception_path())        # missing or not the pinned file -> skipped, with the reason
        self.preset["inception_sha256"] = INCEPTION.sha256    # the pin enters the version

    def samples(self, img: np.ndarray) -> list[np.ndarray]:
        """The images features are taken from: ``img`` after the border crop, or its patches."""
        if self.crop_border:
            b = self.crop_border
            img = img[b:-b, b:-b]
        return patches(img, self.patch) if self.patch else [img]

    def value(self, ref: FeatureStats, test: FeatureStats, seed: int) -> float:
        """FID (from mean and covariance) or KID (from the kept features) between ``ref`` and ``test``."""
        if self.preset["type"] == "fid":
            return fid_from_stats(ref, test)
        return kid_from_features(ref.kept(), test.kept(), seed)
