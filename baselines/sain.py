"""SAIN: Self-Asymmetric Invertible Network (Yang et al., AAAI 2023, arXiv 2303.02353) as compression-aware rescalers.

The architecture is written here to match the official ``SAINet`` of yang-jin-hai/SAIN
(``codes/models/modules/inv_arch.py``, ``guassian_mixture.py``, ``subnet_constructor.py``) module
for module, so the released ``SAINx2_JPEG.pth`` / ``SAINx2_WebP.pth`` / ``SAINx4_JPEG.pth`` state
dicts load with ``strict=True``:

* ``haar_operations``: one ``HaarDownsampling`` per 2x level, all applied first (3 -> 12 -> 48
  channels for x4; the fixed filters are the non-trainable parameter ``haar_weights``);
* ``down_operations``: ``e_blocks`` Enhanced Invertible Blocks (subnets ``E``, ``F``, ``G``,
  ``H``), whose last one yields the high-quality low-resolution image ``LR = x1 + E(x2)``;
* ``comp_operations``: ``v_blocks`` vanilla couplings (``F``, ``G``, ``H``, as IRN's) whose output
  models the *compressed* low-resolution image;
* ``gmm.gmm_para``: ``(3, K)`` rows of mixture logits, means and log-variances of the isotropic
  Gaussian mixture that models the lost high-frequency content.

Every subnet is IRN's ``DenseBlock`` (DBNet, gc 32, Xavier x 0.1, last conv zero) and every
coupling splits off the first 3 channels with clamp 1. Configurations (``options/test/*.yml``):
x2 JPEG and x2 WebP ``e_blocks 5, v_blocks 3``, x4 JPEG ``e_blocks 10, v_blocks 6``, all with 5
mixture components.

Protocol (SAIN's ``test.py`` / ``SAIN.downscale`` / ``SAIN.upscale``): ``downscale`` returns the
last E-block's ``LR`` clamped to [0, 1] (the pipeline quantises it to uint8, SAIN's
``Quantization``), then the codec compresses it (SAIN's test code uses Pillow JPEG / WebP at the
given quality, as qbench's ``jpeg`` / ``webp`` codecs do). ``upscale`` concatenates the decoded
image with ``z`` of ``3 * (s^2 - 1)`` channels, each element drawn from the learned mixture
(component by its softmax weight, then ``mu + exp(logvar / 2) * N(0, 1)``, times
``gaussian_scale``; the official hard Gumbel-softmax selection draws from the same distribution),
and runs the whole network backwards. The differentiable JPEG simulator is used only in training.
Sampling uses torch's default generators, which the runner seeds per sample. Sizes that are not a
multiple of the scale are reflect-padded (bottom/right) and cropped back, as for IRN.

Weights: the official files are plain git files of the SAIN repository
(``experiments/pretrained_models/``, Apache-2.0); no sha256 is published, but the repository
pins their content by git blob id (sha1 of ``"blob <size>\\0" + content``, what
``git hash-object FILE`` prints): a file is accepted only when its blob id is the published one
(``GIT_BLOB_IDS``), and its observed sha256 enters the cache keys.
Loaded with ``torch.load(weights_only=True)``; a ``module.`` prefix (DataParallel) is stripped.
"""

from __future__ import annotations

import math
from functools import lru_cache
from types import SimpleNamespace
from typing import ClassVar

from qbench.errors import ConfigError
from qbench.solvers import SolverCard
from qbench.weights import WeightFile

from . import irn
from .lazy_classes import module_getattr, publish

REPO_COMMIT = "e361d7a0d34b31468f1e47b3e4f181b0e2ca7d46"
RAW = f"https://raw.githubusercontent.com/yang-jin-hai/SAIN/{REPO_COMMIT}/experiments/pretrained_models"
PAPER = ("Yang et al., Self-Asymmetric Invertible Network for Compression-Aware Image Rescaling, "
         "AAAI 2023 (arXiv 2303.02353)")
LICENSE = "Apache-2.0"
LR_CHANNELS = 3
#: git blob ids of the official files at ``REPO_COMMIT`` (what ``git hash-object`` prints)
GIT_BLOB_IDS = {
    "SAINx2_JPEG.pth": "96647627e347d65aa9004577b3072a0f3079db80",
    "SAINx2_WebP.pth": "8ded1d7557e239a1f39e7cd30aa762ccd1012676",
    "SAINx4_JPEG.pth": "6cbd6b4f992f72a8b06b464ff724c46380631988",
}
#: (scale, e_blocks, v_blocks, gmm_components) of each released model
CONFIGS = {"SAINx2_JPEG.pth": (2, 5, 3, 5), "SAINx2_WebP.pth": (2, 5, 3, 5), "SAINx4_JPEG.pth": (4, 10, 6, 5)}
_ARCH_NAMES = ("EnhancedInvBlock", "GaussianMixture", "SAINet")


def _wf(name: str) -> WeightFile:
    return WeightFile(name, f"{RAW}/{name}", subdir="solvers/sain", git_blob=GIT_BLOB_IDS[name],
                      description="SAIN official checkpoint")


@lru_cache(maxsize=1)
def _arch() -> SimpleNamespace:
    """Build the torch modules (imports torch on first call)."""
    import torch
    from torch import nn

    DenseBlock, InvBlockExp, HaarDownsampling = irn.DenseBlock, irn.InvBlockExp, irn.HaarDownsampling

    class EnhancedInvBlock(nn.Module):
        """SAIN's E-InvBlock: ``LR = x1 + E(x2)``, ``y1 = LR - F(x2)``,
        ``y2 = x2 * exp(s(y1)) + G(y1)``, ``s = clamp * (2 sigmoid(H(y1)) - 1)``."""

        def __init__(self, channel_num: int, channel_split_num: int, clamp: float = 1.0):
            super().__init__()
            self.split_len1 = channel_split_num
            self.split_len2 = channel_num - channel_split_num
            self.clamp = clamp
            self.E = DenseBlock(self.split_len2, self.split_len1)
            self.F = DenseBlock(self.split_len2, self.split_len1)
            self.G = DenseBlock(self.split_len1, self.split_len2)
            self.H = DenseBlock(self.split_len1, self.split_len2)

        def _s(self, y1):
            return self.clamp * (torch.sigmoid(self.H(y1)) * 2 - 1)

        def _split(self, x):
            return x.narrow(1, 0, self.split_len1), x.narrow(1, self.split_len1, self.split_len2)

        def lowres(self, x):
            """The high-quality low-resolution image of the forward pass, ``x1 + E(x2)``."""
            x1, x2 = self._split(x)
            return x1 + self.E(x2)

        def forward(self, x, rev: bool = False):
            x1, x2 = self._split(x)
            if not rev:
                y1 = x1 + self.E(x2) - self.F(x2)
                y2 = x2 * torch.exp(self._s(y1)) + self.G(y1)
            else:
                y2 = (x2 - self.G(x1)) / torch.exp(self._s(x1))
                y1 = x1 + self.F(y2) - self.E(y2)
            return torch.cat((y1, y2), 1)

    class GaussianMixture(nn.Module):
        """Learned isotropic Gaussian mixture; ``gmm_para`` rows: logits, means, log-variances."""

        def __init__(self, gmm_components: int = 5):
            super().__init__()
            self.gmm_para = nn.Parameter(0.0001 * torch.randn(3, gmm_components))

        def sample(self, shape, device=None, dtype=None):
            """``shape`` i.i.d. draws (torch's default generators, so seedable)."""
            logits, mus, logvars = self.gmm_para.detach().to(device=device, dtype=torch.float32)
            std = torch.exp(0.5 * logvars.clamp(-20, 20))
            cdf = torch.cumsum(torch.softmax(logits, 0), 0)
            u = torch.rand(shape, device=device) * cdf[-1]
            k = torch.searchsorted(cdf, u.reshape(-1)).clamp_(max=cdf.numel() - 1).reshape(shape)
            z = mus[k] + std[k] * torch.randn(shape, device=device)
            return z.to(dtype or torch.float32)

    class SAINet(nn.Module):
        """Haar levels, then E-InvBlocks (high-quality LR), then vanilla couplings (compressed LR)."""

        def __init__(self, channel_in: int = 3, channel_out: int = 3, e_blocks: int = 5, v_blocks: int = 3,
                     down_num: int = 1, gmm_components: int = 5):
            super().__init__()
            channels = channel_in
            haar = []
            for _ in range(down_num):
                haar.append(HaarDownsampling(channels))
                channels *= 4
            self.haar_operations = nn.ModuleList(haar)
            self.down_operations = nn.ModuleList(EnhancedInvBlock(channels, channel_out) for _ in range(e_blocks))
            self.comp_operations = nn.ModuleList(InvBlockExp(channels, channel_out) for _ in range(v_blocks))
            self.gmm = GaussianMixture(gmm_components)
            self.channel_in, self.channel_out, self.down_num = channel_in, channel_out, down_num

        def forward(self, x, rev: bool = False):
            ops = [*self.haar_operations, *self.down_operations, *self.comp_operations]
            for op in (reversed(ops) if rev else ops):
                x = op(x, rev)
            return x

        def lowres(self, x):
            """The low-resolution image SAIN transmits: the last E-block's ``LR`` (no V-blocks)."""
            for op in [*self.haar_operations, *self.down_operations[:-1]]:
                x = op(x)
            return self.down_operations[-1].lowres(x)

    return publish(__name__, {"EnhancedInvBlock": EnhancedInvBlock, "GaussianMixture": GaussianMixture,
                              "SAINet": SAINet})


__getattr__ = module_getattr(__name__, _ARCH_NAMES, _arch)


def build_sain(filename: str):
    """A randomly initialised ``SAINet`` in the configuration of an official file
    (``SAINx2_JPEG.pth``, ``SAINx2_WebP.pth`` or ``SAINx4_JPEG.pth``)."""
    if filename not in CONFIGS:
        raise ConfigError(f"no SAIN configuration for {filename!r}; known: {sorted(CONFIGS)}")
    scale, e_blocks, v_blocks, k = CONFIGS[filename]
    return _arch().SAINet(3, LR_CHANNELS, e_blocks=e_blocks, v_blocks=v_blocks,
                          down_num=int(math.log2(scale)), gmm_components=k)


class SAIN(irn.InvertibleRescaler):
    """Base of the SAIN rescalers: one official checkpoint each. The low-res image is the last
    E-block's output (``x1 + E(x2)``), ``z`` is drawn from the learned Gaussian mixture."""

    scale: ClassVar[int] = 2
    arch_name = "SAIN's SAINet"

    def checkpoint_label(self) -> str:
        return f"a SAIN {self.card.weights[0].filename.removesuffix('.pth')}"

    def build_net(self):
        return build_sain(self.card.weights[0].filename)

    def lowres(self, net, x):
        return net.lowres(x)

    def latent(self, net, shape, like):
        return net.gmm.sample(shape, device=like.device, dtype=like.dtype)


def _card(name: str, filename: str, trained_on: str) -> SolverCard:
    scale, e_blocks, v_blocks, _ = CONFIGS[filename]
    return SolverCard(
        name=name, task="rescale", paper=PAPER, license=LICENSE, blind=True, channels=("rgb",),
        scale=scale, weights=(_wf(filename),),
        description=f"self-asymmetric invertible rescaling, x{scale}, trained with {trained_on} "
                    f"({e_blocks} E-InvBlocks, {v_blocks} V-blocks, 5-component latent mixture): "
                    f"forward E-block LR, inverse with z from the mixture; sizes reflect-padded to a "
                    f"multiple of {scale} and cropped back")


class SAINx2JPEG(SAIN):
    scale = 2
    card = _card("sain_x2_jpeg", "SAINx2_JPEG.pth", "JPEG QF 75")


class SAINx2WebP(SAIN):
    scale = 2
    card = _card("sain_x2_webp", "SAINx2_WebP.pth", "WebP quality 75 (JPEG surrogate for gradients)")


class SAINx4JPEG(SAIN):
    scale = 4
    card = _card("sain_x4_jpeg", "SAINx4_JPEG.pth", "JPEG QF 75")
