"""The triplet diagnostic contract: per-image values of (original O, compressed C, enhanced E).

A diagnostic sees the three images of one sample, all ``(H, W, C)`` on the 0..255 scale (uint8,
or float when a suite keeps outputs unquantised):

* ``O`` the dataset image;
* ``C`` the decoded bitstream the solver saw. When the codec coded a smaller image (a rescaler's
  low-res image), ``C`` is that decoded image brought to the original's size by a fixed,
  solver-independent bicubic interpolation (:func:`match_size`), so ``C`` always means "the
  bitstream, naively displayed" and ``E - C`` is what the solver added beyond it;
* ``E`` the solver output; for a pass-through solver (``identity``, a learned codec alone) ``E``
  *is* ``C``, and the diagnostic is called with ``enhanced=None``: it returns the known answer
  (no residual, zero gain) without computing the E side.

It returns named float values (NaN where a value is undefined, e.g. a ratio over a zero
compression error). Values are stored in the results store like metric values, keyed by the
sample's measured image and named ``<diagnostic label>/<value name>``; :attr:`version` (a hash of
the name, parameters and implementation revision) enters the key, so values cache like metrics.

Work that depends on the original alone (maps, class masks, luma) is done once per image by
:meth:`prepare` and reused for every codec point and solver of that image.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError


class TripletDiagnostic(ABC):
    """Base class: a named, parameterised, versioned function of (O, C, E) -> {name: value}."""

    #: bump when the computation changes (old values are then recomputed)
    revision: ClassVar[int] = 1
    defaults: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""

    def __init__(self, name: str, params: dict[str, Any] | None = None, label: str | None = None):
        from ..params import check_params

        self.name = name
        self.label = label or name
        self.params = check_params(f"diagnostic {name!r}", self.defaults, dict(params or {}))
        self.check()

    def check(self) -> None:
        """Validate :attr:`params` (raise :class:`ConfigError`)."""

    @property
    def version(self) -> str:
        """Hash of what determines the values: class, code identity
        (:func:`qbench.codeid.code_identity`), revision and parameters."""
        from ..codeid import code_identity

        blob = json.dumps([type(self).__qualname__, self.revision, self.params, code_identity(self)],
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @abstractmethod
    def value_names(self) -> list[str]:
        """Every value name :meth:`compute_prepared` returns (a fixed list for fixed parameters)."""

    def keys(self) -> list[str]:
        """The stored metric names: ``<label>/<value name>``."""
        return [f"{self.label}/{n}" for n in self.value_names()]

    def prepare(self, original: np.ndarray) -> Any:
        """What :meth:`compute_prepared` needs of the original; by default the original itself."""
        return original

    @abstractmethod
    def compute_prepared(self, prepared: Any, compressed: np.ndarray,
                         enhanced: np.ndarray | None) -> dict[str, float]:
        """Values of one sample; ``enhanced=None`` means E is C (a pass-through solver)."""

    def compute(self, original: np.ndarray, compressed: np.ndarray,
                enhanced: np.ndarray | None) -> dict[str, float]:
        """``compute_prepared(prepare(original), ...)`` with C brought to O's size."""
        return self.compute_prepared(self.prepare(original), match_size(compressed, original.shape), enhanced)

    def images(self, prepared: Any, compressed: np.ndarray, enhanced: np.ndarray) -> dict[str, np.ndarray]:
        """Illustration images (uint8) of one sample, written for a few example images; none by default."""
        return {}

    @property
    def examples(self) -> int:
        """How many images per dataset get illustration images (0: none)."""
        return 0


def as_float(img: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` float64 on the 0..255 scale."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    return img.astype(np.float64, copy=False)


def match_size(compressed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``compressed`` at the original's ``(H, W)``: unchanged when it already is; otherwise
    bicubic interpolation (Pillow, per channel, float32) of the decoded image, rounded like an
    8-bit display would be when the input is uint8."""
    compressed = np.asarray(compressed)
    if compressed.ndim == 2:
        compressed = compressed[:, :, None]
    h, w = int(shape[0]), int(shape[1])
    if compressed.shape[:2] == (h, w):
        return compressed
    from PIL import Image

    planes = [np.asarray(Image.fromarray(compressed[..., c].astype(np.float32), mode="F")
                         .resize((w, h), Image.BICUBIC)) for c in range(compressed.shape[2])]
    out = np.stack(planes, axis=2)
    if compressed.dtype == np.uint8:
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    return out.astype(np.float32)
