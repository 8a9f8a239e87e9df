"""The compression-bias "discriminator probe": a GAN discriminator's mean realness score.

Following the compression-bias analysis (CVPR 2024) with Real-ESRGAN's discriminator, the value of
an image is the mean over pixels of ``sigmoid(D(x))``, where ``D`` is Real-ESRGAN's U-Net
discriminator with spectral normalisation (``UNetDiscriminatorSN``: 3 input channels, 64 base
features, skip connections) and ``x`` the RGB image scaled to [0, 1] (gray replicated to RGB).
It is a no-reference metric, measured on the original, compressed and enhanced images, so a
report can show how far a codec moves images away from "real" and how far a solver brings them
back (higher = judged more real by ``D``).

Weights: ``RealESRGAN_x4plus_netD.pth`` of the Real-ESRGAN v0.2.2.3 release (state dict under
``params``). No sha256 is published for it, so, as for clean-fid's Inception, the observed sha256
of the local file enters the metric's version: values computed with another file are never
reused. The file is never downloaded by a run (``qbench weights fetch`` or place it by hand); a
missing file makes the runner skip the metric with the reason.

The discriminator halves the resolution three times; other sizes are padded by edge replication
to a multiple of 8 and the score is averaged over the image's own pixels only.

Architectures are pluggable (:data:`ARCHS`, preset key ``arch``), as are weight files
(:data:`WEIGHTS`, preset key ``weights``).

Conditional variant (:class:`ConditionalDiscriminatorMetric`, preset ``conditional: true``): the
discriminator of the enhancement-bias method of Xing et al. (CVPR 2024) judges an image *given*
its compressed input, ``D(x | y)``: its input is the channel concatenation ``[x, y]`` (6 channels,
the test image first, then the condition, both RGB in [0, 1]). Measured on the original, the
compressed and the enhanced image of a sample, each conditioned on the same compressed image, it
shows whether ``D`` tells real images from compressed ones where it matters (``D(O|C)`` against
``D(C|C)``) and how real the solver's output looks to it (``D(E|C)``). No conditional
discriminator weights are published: ``disc_conditional`` (a triplet diagnostic,
:class:`~qbench.diagnostics.discriminator.ConditionalDiscriminatorDiagnostic`, listed under a suite's ``diagnostics: per_image:``) loads a user-trained
``UNetDiscriminatorSN(num_in_ch=6)`` checkpoint placed at its weight path (``qbench weights path
conditional_unet_sn``), strictly, with the file's sha256 in the metric version; a missing file
raises :class:`~qbench.errors.WeightsError` saying where to place it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, WeightsError
from ..registry import Registry
from ..weights import WeightFile, register
from .base import Metric
from .presets import DISCRIMINATOR_PRESETS

RELEASE = "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.2.3"

REALESRGAN_NETD = register("metric/discriminator/realesrgan_x4plus_netd", WeightFile(
    "RealESRGAN_x4plus_netD.pth", f"{RELEASE}/RealESRGAN_x4plus_netD.pth", subdir="metrics/discriminator",
    description="Real-ESRGAN x4plus U-Net discriminator (SN), state dict under 'params'; not hash-pinned "
    "upstream, so its observed sha256 enters the version of every discriminator value"))

CONDITIONAL_NETD = register("metric/discriminator/conditional_unet_sn", WeightFile(
    "conditional_unet_sn_netD.pth", "", subdir="metrics/discriminator",
    description="a user-trained conditional U-Net discriminator (SN) with 6 input channels (test image, then its "
    "compressed input); no public release: place your checkpoint here; its observed sha256 enters the version"))

#: weight files by the name a preset's ``weights`` key uses
WEIGHTS: dict[str, WeightFile] = {"realesrgan_x4plus_netd": REALESRGAN_NETD,
                                  "conditional_unet_sn": CONDITIONAL_NETD}

#: how many times an architecture halves the resolution (inputs are padded to a multiple of 2**n)
DOWNSAMPLINGS: dict[str, int] = {"unet_sn": 3}

#: discriminator architectures: ``factory(num_in_ch, **arch_params) -> torch.nn.Module`` producing
#: per-pixel (or per-patch) logits of shape (N, 1, h, w)
ARCHS: Registry[Callable[..., Any]] = Registry("discriminator architecture")


@functools.cache
def _unet_sn_class():
    """Build the ``UNetDiscriminatorSN`` class (torch imported only when it is needed)."""
    import torch.nn.functional as F
    from torch import nn
    from torch.nn.utils import spectral_norm

    def sn_conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Module:
        # spectral-normalised, bias-free; parameters weight_orig / weight_u / weight_v as in BasicSR
        return spectral_norm(nn.Conv2d(cin, cout, kernel, stride, 1, bias=False))

    class UNetDiscriminatorSN(nn.Module):
        """Real-ESRGAN's U-Net discriminator with spectral normalisation (Wang et al. 2021).

        Encoder: a plain 3x3 conv, then three spectral-normalised 4x4 stride-2 convs (64 -> 128 ->
        256 -> 512 features for ``num_feat=64``). Decoder: three steps of bilinear x2 upsampling
        and a spectral-normalised 3x3 conv, each added to the encoder feature of the same size
        when ``skip_connection``; then two spectral-normalised 3x3 convs and a plain 3x3 conv to
        one channel of per-pixel logits. LeakyReLU(0.2) after every conv but the last.
        """

        def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
            super().__init__()
            self.skip_connection = skip_connection
            f = num_feat
            self.conv0 = nn.Conv2d(num_in_ch, f, kernel_size=3, stride=1, padding=1)
            self.conv1 = sn_conv(f, 2 * f, 4, 2)
            self.conv2 = sn_conv(2 * f, 4 * f, 4, 2)
            self.conv3 = sn_conv(4 * f, 8 * f, 4, 2)
            self.conv4 = sn_conv(8 * f, 4 * f, 3, 1)
            self.conv5 = sn_conv(4 * f, 2 * f, 3, 1)
            self.conv6 = sn_conv(2 * f, f, 3, 1)
            self.conv7 = sn_conv(f, f, 3, 1)
            self.conv8 = sn_conv(f, f, 3, 1)
            self.conv9 = nn.Conv2d(f, 1, kernel_size=3, stride=1, padding=1)

        def forward(self, x):
            def act(t):
                return F.leaky_relu(t, negative_slope=0.2)

            def up(t):
                return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

            e0 = act(self.conv0(x))
            e1 = act(self.conv1(e0))
            e2 = act(self.conv2(e1))
            e3 = act(self.conv3(e2))
            d = act(self.conv4(up(e3)))
            if self.skip_connection:
                d = d + e2
            d = act(self.conv5(up(d)))
            if self.skip_connection:
                d = d + e1
            d = act(self.conv6(up(d)))
            if self.skip_connection:
                d = d + e0
            d = act(self.conv7(d))
            d = act(self.conv8(d))
            return self.conv9(d)

    return UNetDiscriminatorSN


def unet_sn(num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
    """A fresh (randomly initialised) ``UNetDiscriminatorSN``."""
    return _unet_sn_class()(num_in_ch, num_feat, skip_connection)


ARCHS.register("unet_sn", unet_sn)


def __getattr__(name: str):
    """Lazy names: ``UNetDiscriminatorSN`` (imports torch) and ``ConditionalDiscriminatorDiagnostic``,
    which lives in :mod:`qbench.diagnostics.discriminator` (metrics never import diagnostics)."""
    if name == "UNetDiscriminatorSN":
        return _unet_sn_class()
    if name == "ConditionalDiscriminatorDiagnostic":
        from ..diagnostics.discriminator import ConditionalDiscriminatorDiagnostic

        return ConditionalDiscriminatorDiagnostic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def state_dict_of(checkpoint: Any, path: Path | str = "") -> dict:
    """The model's state dict in a checkpoint: ``params`` (BasicSR), else ``params_ema``, else the
    checkpoint itself when it is a plain state dict."""
    if not isinstance(checkpoint, dict):
        raise WeightsError(f"weights {path}: expected a dict, got {type(checkpoint).__name__}")
    for key in ("params", "params_ema"):
        if key in checkpoint:
            return checkpoint[key]
    return checkpoint


def load_discriminator(arch: str, wf: WeightFile, arch_params: dict[str, Any] | None = None,
                       num_in_ch: int = 3):
    """Build ``arch`` and load the verified local ``wf`` into it with ``strict=True`` (CPU, eval)."""
    from ..weights import ensure, load_state_dict, local_path

    if not wf.url and not local_path(wf).is_file():   # a user-trained file: say what to place there
        raise WeightsError(f"discriminator weight file {wf.filename!r} not found at {local_path(wf)}; it has no "
                           f"public release: place there a checkpoint of the {arch!r} discriminator with "
                           f"{num_in_ch} input channels (a state dict, or one under 'params')")
    path = ensure(wf, allow_download=False)          # missing -> WeightsError (the runner skips the metric)
    model = ARCHS.get(arch)(num_in_ch, **(arch_params or {}))
    state = state_dict_of(load_state_dict(path), path)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()
        raise WeightsError(f"weights {path} do not fit the {arch!r} discriminator: "
                           f"{' '.join(first[:3])}") from exc
    return model.eval().requires_grad_(False)


def image_tensor(img: np.ndarray, crop_border: int = 0, name: str = "discriminator"):
    """A ``(1, 3, H, W)`` float32 tensor in [0, 1] of an ``(H, W, C)`` image (uint8, or float in
    [0, 255]): gray replicated to RGB, alpha dropped, ``crop_border`` pixels cut off each side."""
    import torch

    arr = img[:, :, None] if img.ndim == 2 else img
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    b = crop_border
    if b:
        arr = arr[b:-b, b:-b]
    if min(arr.shape[:2]) < 2:
        raise ValueError(f"{name}: image of {arr.shape[:2]} px is too small")
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255.0))
    return x.permute(2, 0, 1)[None]


class _Discriminator(Metric):
    """What both variants share: preset checks, strict weight loading, padding, the mean score."""

    num_in_ch = 3

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        super().__init__(name, preset, crop_border)
        if self.preset.get("type") != "discriminator":
            raise ConfigError(f"metric {name!r}: type must be 'discriminator'")
        self.arch = str(self.preset.get("arch", "unet_sn"))
        if self.arch not in ARCHS:
            raise ConfigError(f"metric {name!r}: unknown discriminator arch {self.arch!r}; "
                              f"known: {', '.join(ARCHS.names())}")
        wname = str(self.preset.get("weights", "realesrgan_x4plus_netd"))
        if wname not in WEIGHTS:
            raise ConfigError(f"metric {name!r}: unknown discriminator weights {wname!r}; "
                              f"known: {', '.join(sorted(WEIGHTS))}")
        self.weight_file = WEIGHTS[wname]
        self.model = load_discriminator(self.arch, self.weight_file, self.preset.get("arch_params"), self.num_in_ch)
        if not (self.weight_file.sha256 or self.weight_file.sha256_prefix):
            from ..weights import local_path, sha256_file

            # no upstream pin: the file's own hash enters the version (values of another file are never reused)
            self.preset["weights_sha256"] = sha256_file(local_path(self.weight_file))
        self._on = "cpu"

    def _model_on(self, device: str):
        if device != self._on:
            self.model = self.model.to(device)
            self._on = device
        return self.model

    def logits(self, x):
        """Per-pixel logits of a (N, C, H, W) float tensor in [0, 1] (C = the model's input
        channels); sizes are padded (edge replication) to a multiple of the architecture's stride
        and the padding cropped off."""
        import torch.nn.functional as F

        step = 2 ** DOWNSAMPLINGS.get(self.arch, 0)
        h, w = x.shape[-2:]
        ph, pw = (-h) % step, (-w) % step
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        out = self._model_on(str(x.device))(x)
        if out.shape[-2:] != x.shape[-2:]:
            return out   # a patch discriminator: its own grid of scores
        return out[..., :h, :w]

    def score(self, x) -> float:
        """Mean ``sigmoid`` of the logits of one input tensor (moved to the metric's device)."""
        import torch

        device = str(self.device) if self.device else "cpu"
        with torch.inference_mode():
            return float(torch.sigmoid(self.logits(x.to(device)).float()).mean().item())


class DiscriminatorMetric(_Discriminator):
    """Mean sigmoid score of a GAN discriminator on one image (a no-reference metric).

    Preset keys: ``type`` (discriminator), ``arch`` (a name of :data:`ARCHS`), ``weights`` (a
    name of :data:`WEIGHTS`), ``arch_params`` (keyword arguments of the architecture),
    ``conditional`` (must be false: see :class:`ConditionalDiscriminatorMetric`), ``crop_border``.
    """

    kind = "no_reference"

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        if preset.get("conditional", False):
            raise ConfigError(f"metric {name!r}: a conditional discriminator needs the compressed image as "
                              "its condition: use ConditionalDiscriminatorMetric (e.g. disc_conditional)")
        super().__init__(name, preset, crop_border)

    def compute_image(self, img: np.ndarray) -> float:
        """Mean ``sigmoid(D(x))`` of one ``(H, W, C)`` image (uint8, or float in [0, 255])."""
        return self.score(image_tensor(img, self.crop_border, self.name))


class ConditionalDiscriminatorMetric(_Discriminator):
    """Mean sigmoid score of a conditional discriminator, ``D([x, y])``, of an image ``x`` given
    the compressed image ``y`` of the same sample (6 input channels: ``x`` then ``y``).

    Preset keys as :class:`DiscriminatorMetric`, with ``conditional: true`` and ``condition``
    (the role the images are conditioned on; only ``compressed``). It needs a sample's three
    images at once, so a suite measures it through the ``disc_conditional`` triplet diagnostic
    (:class:`~qbench.diagnostics.discriminator.ConditionalDiscriminatorDiagnostic`), not as a per-image metric.
    """

    kind = "conditional"
    num_in_ch = 6

    def __init__(self, name: str, preset: dict[str, Any], crop_border: int | None = None):
        if not preset.get("conditional", False):
            raise ConfigError(f"metric {name!r}: a conditional discriminator preset needs 'conditional: true'")
        if preset.get("condition", "compressed") != "compressed":
            raise ConfigError(f"metric {name!r}: condition must be 'compressed'")
        super().__init__(name, preset, crop_border)
        self.condition = "compressed"

    def compute_conditional(self, img: np.ndarray, cond: np.ndarray) -> float:
        """Mean ``sigmoid(D([x, y]))`` of image ``img`` given the condition image ``cond`` (same size)."""
        import torch

        x = image_tensor(img, self.crop_border, self.name)
        y = image_tensor(cond, self.crop_border, self.name)
        if x.shape != y.shape:
            raise ValueError(f"{self.name}: image {tuple(x.shape[-2:])} and condition {tuple(y.shape[-2:])} differ in size")
        return self.score(torch.cat([x, y], dim=1))


def make(name: str = "disc_realesrgan", preset: dict[str, Any] | None = None):
    """A registry-friendly factory ``(crop_border=None) -> DiscriminatorMetric``."""
    def factory(crop_border: int | None = None) -> DiscriminatorMetric:
        return DiscriminatorMetric(name, preset if preset is not None else DEFAULT_PRESET, crop_border)
    return factory


#: the preset of ``disc_realesrgan``, as registered from :mod:`qbench.metrics.presets`
DEFAULT_PRESET: dict[str, Any] = DISCRIMINATOR_PRESETS["disc_realesrgan"]

#: the preset of the metric inside the ``disc_conditional`` triplet diagnostic (a diagnostic, so not
#: among the metric presets)
CONDITIONAL_PRESET: dict[str, Any] = {
    "type": "discriminator", "conditional": True, "condition": "compressed", "arch": "unet_sn",
    "weights": "conditional_unet_sn", "higher_is_better": True,
    "description": "mean sigmoid score of a user-trained conditional U-Net discriminator (SN), input [image, "
                   "compressed image] on RGB in [0, 1] (enhancement-bias probe; higher = judged more real)"}


#: import-string entry point: ``qbench.metrics.discriminator:disc_realesrgan``
disc_realesrgan = make("disc_realesrgan")
