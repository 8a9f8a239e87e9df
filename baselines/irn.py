"""IRN: Invertible Image Rescaling (Xiao et al., ECCV 2020) as x2 / x4 rescalers.

The architecture is written here to match the official ``InvRescaleNet`` of
pkuxmq/Invertible-Image-Rescaling (``codes/models/modules/Inv_arch.py`` and
``Subnet_constructor.py``) module for module, so the released ``IRN_x2.pth`` / ``IRN_x4.pth``
state dicts load with ``strict=True``: ``operations`` is a ``ModuleList`` of, per 2x level, one
``HaarDownsampling`` (its fixed Haar filters are a non-trainable parameter ``haar_weights``)
followed by ``block_num[level]`` ``InvBlockExp`` couplings (clamp 1, the first ``channel_out = 3``
channels are the low-resolution split) whose ``F`` / ``G`` / ``H`` subnets are ``DenseBlock``s
(DBNet, gc 32, Xavier init scaled by 0.1, last conv zero).

Protocol (IRN's test code): ``downscale`` runs the network forward and keeps the first 3 channels
as the low-resolution image, clamped to [0, 1] (the pipeline quantises it to uint8 before the
codec, as IRN's ``Quantization``). ``upscale`` concatenates the decoded low-resolution image with
``z ~ N(0, gaussian_scale^2)`` of the remaining ``3 * 4^levels - 3`` channels (``torch.randn`` on
the batch's device; the runner seeds every generator per sample, so it is reproducible) and runs
the inverse. IRN needs sizes divisible by the scale: ``downscale`` reflect-pads the bottom/right
edges up to a multiple of the scale (low-res size ``ceil(H / s)``), ``upscale`` crops back to
``ctx.original_size``.

Weights: the official checkpoints are only on Google Drive (no direct link, no published
checksum): place them by hand where ``qbench weights path IRN_x4.pth`` says; the observed sha256
of the local file enters the cache keys. Loaded with ``torch.load(weights_only=True)``; a
``module.`` prefix (DataParallel) is stripped.

torch is imported lazily: the architecture classes are built on first use and exposed as module
attributes (``from qbench_baselines.irn import InvRescaleNet``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, ClassVar

from qbench.errors import ConfigError, SolverError, WeightsError
from qbench.solvers import Context, Rescaler, SolverCard
from qbench.solvers.base import torch_versions
from qbench.weights import WeightFile

from .lazy_classes import module_getattr, publish

GDRIVE = "https://drive.google.com/drive/folders/1ym6DvYNQegDrOy_4z733HxrULa1XIN92?usp=sharing"
PAPER = "Xiao et al., Invertible Image Rescaling, ECCV 2020"
LR_CHANNELS = 3
_ARCH_NAMES = ("DenseBlock", "InvBlockExp", "HaarDownsampling", "InvRescaleNet")


def _wf(name: str) -> WeightFile:
    return WeightFile(name, GDRIVE, subdir="solvers/irn",
                      description="IRN official checkpoint (Google Drive folder of the IRN authors; "
                                  "place the file by hand)")


@lru_cache(maxsize=1)
def _arch() -> SimpleNamespace:
    """Build the torch modules (imports torch on first call)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def xavier_(convs, scale: float) -> None:
        for conv in convs:
            nn.init.xavier_normal_(conv.weight)
            conv.weight.data *= scale
            if conv.bias is not None:
                conv.bias.data.zero_()

    class DenseBlock(nn.Module):
        """IRN's DBNet subnet: five densely connected 3x3 convs, growth ``gc``."""

        def __init__(self, channel_in: int, channel_out: int, gc: int = 32, bias: bool = True):
            super().__init__()
            self.conv1 = nn.Conv2d(channel_in, gc, 3, 1, 1, bias=bias)
            self.conv2 = nn.Conv2d(channel_in + gc, gc, 3, 1, 1, bias=bias)
            self.conv3 = nn.Conv2d(channel_in + 2 * gc, gc, 3, 1, 1, bias=bias)
            self.conv4 = nn.Conv2d(channel_in + 3 * gc, gc, 3, 1, 1, bias=bias)
            self.conv5 = nn.Conv2d(channel_in + 4 * gc, channel_out, 3, 1, 1, bias=bias)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
            xavier_([self.conv1, self.conv2, self.conv3, self.conv4], 0.1)
            nn.init.zeros_(self.conv5.weight)          # IRN: kaiming init scaled by 0, i.e. zero
            if bias:
                nn.init.zeros_(self.conv5.bias)

        def forward(self, x):
            x1 = self.lrelu(self.conv1(x))
            x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
            x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
            x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
            return self.conv5(torch.cat((x, x1, x2, x3, x4), 1))

    class InvBlockExp(nn.Module):
        """Affine coupling: ``y1 = x1 + F(x2)``, ``y2 = x2 * exp(s(y1)) + G(y1)``,
        ``s = clamp * (2 sigmoid(H(y1)) - 1)``."""

        def __init__(self, channel_num: int, channel_split_num: int, clamp: float = 1.0):
            super().__init__()
            self.split_len1 = channel_split_num
            self.split_len2 = channel_num - channel_split_num
            self.clamp = clamp
            self.F = DenseBlock(self.split_len2, self.split_len1)
            self.G = DenseBlock(self.split_len1, self.split_len2)
            self.H = DenseBlock(self.split_len1, self.split_len2)

        def _s(self, y1):
            return self.clamp * (torch.sigmoid(self.H(y1)) * 2 - 1)

        def forward(self, x, rev: bool = False):
            x1, x2 = x.narrow(1, 0, self.split_len1), x.narrow(1, self.split_len1, self.split_len2)
            if not rev:
                y1 = x1 + self.F(x2)
                y2 = x2 * torch.exp(self._s(y1)) + self.G(y1)
            else:
                y2 = (x2 - self.G(x1)) / torch.exp(self._s(x1))
                y1 = x1 - self.F(y2)
            return torch.cat((y1, y2), 1)

    class HaarDownsampling(nn.Module):
        """Orthogonal 2x2 Haar transform: ``C`` channels -> ``4C`` at half size, band-major
        (all channels' LL, then the three detail bands), as IRN orders them."""

        def __init__(self, channel_in: int):
            super().__init__()
            self.channel_in = channel_in
            w = torch.ones(4, 1, 2, 2)
            w[1, 0, 0, 1] = w[1, 0, 1, 1] = -1         # horizontal detail
            w[2, 0, 1, 0] = w[2, 0, 1, 1] = -1         # vertical detail
            w[3, 0, 1, 0] = w[3, 0, 0, 1] = -1         # diagonal detail
            self.haar_weights = nn.Parameter(torch.cat([w] * channel_in, 0), requires_grad=False)

        def forward(self, x, rev: bool = False):
            n, _, h, w = x.shape
            if not rev:
                out = F.conv2d(x, self.haar_weights, bias=None, stride=2, groups=self.channel_in) / 4.0
                out = out.reshape(n, self.channel_in, 4, h // 2, w // 2).transpose(1, 2)
                return out.reshape(n, self.channel_in * 4, h // 2, w // 2)
            out = x.reshape(n, 4, self.channel_in, h, w).transpose(1, 2).reshape(n, self.channel_in * 4, h, w)
            return F.conv_transpose2d(out, self.haar_weights, bias=None, stride=2, groups=self.channel_in)

    class InvRescaleNet(nn.Module):
        """IRN's network: per 2x level a Haar transform then ``block_num[level]`` couplings."""

        def __init__(self, channel_in: int = 3, channel_out: int = 3, block_num=(8, 8), down_num: int = 2):
            super().__init__()
            ops: list = []
            channels = channel_in
            for level in range(down_num):
                ops.append(HaarDownsampling(channels))
                channels *= 4
                ops.extend(InvBlockExp(channels, channel_out) for _ in range(block_num[level]))
            self.operations = nn.ModuleList(ops)
            self.channel_in, self.channel_out, self.down_num = channel_in, channel_out, down_num

        def forward(self, x, rev: bool = False):
            for op in (reversed(self.operations) if rev else self.operations):
                x = op(x, rev)
            return x

    return publish(__name__, {"DenseBlock": DenseBlock, "InvBlockExp": InvBlockExp,
                              "HaarDownsampling": HaarDownsampling, "InvRescaleNet": InvRescaleNet})


__getattr__ = module_getattr(__name__, _ARCH_NAMES, _arch)


def build_irn(scale: int):
    """A randomly initialised ``InvRescaleNet`` for ``scale`` 2 (blocks [8]) or 4 ([8, 8])."""
    if scale not in (2, 4):
        raise ConfigError(f"IRN exists for scale 2 or 4, not {scale!r}")
    down = int(math.log2(scale))
    return _arch().InvRescaleNet(3, LR_CHANNELS, block_num=[8] * down, down_num=down)


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    """Remove a DataParallel ``module.`` prefix from every key that has it."""
    return {k.removeprefix(prefix): v for k, v in state.items()}


class InvertibleRescaler(Rescaler):
    """Shared machinery of the invertible rescalers (IRN, SAIN): one official checkpoint each,
    loaded strictly; the forward pass gives the low-res image, the inverse pass on ``[LR, z]``
    gives the upscaled one. Subclasses say how the network is built, which forward output is the
    low-res image and how ``z`` is drawn."""

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """torch's version: it runs the network."""
        return torch_versions()

    scale: ClassVar[int] = 4
    arch_name: ClassVar[str] = ""               # for error messages
    defaults: ClassVar[dict[str, Any]] = {"gaussian_scale": 1.0}

    def __init__(self, **params: Any):
        super().__init__(**params)
        g = self.params["gaussian_scale"]
        if isinstance(g, bool) or not isinstance(g, (int, float)) or g < 0:
            raise ConfigError(f"{self.card.name}: gaussian_scale must be a number >= 0, got {g!r}")
        self.params["gaussian_scale"] = float(g)
        self.net = None

    # -- hooks ---------------------------------------------------------------------------------
    def build_net(self):
        """A randomly initialised network of the checkpoint's architecture."""
        raise NotImplementedError

    def lowres(self, net, x):
        """The low-res image of the forward pass (before clamping)."""
        raise NotImplementedError

    def latent(self, net, shape: tuple[int, int, int, int], like):
        """``z`` of ``shape`` for the inverse pass, before ``gaussian_scale``."""
        raise NotImplementedError

    def checkpoint_label(self) -> str:
        """How an error names the checkpoint this solver expects (with its article)."""
        return f"a {self.card.name}"

    def weights_path(self, wf):
        """The local checkpoint (never downloaded during a run)."""
        from qbench.weights import ensure

        return ensure(wf, allow_download=False)    # absent: names the file, the URL and the place

    # -- weights -------------------------------------------------------------------------------
    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        from qbench.weights import load_state_dict

        wf = self.card.weights[0]
        path = self.weights_path(wf)
        state = load_state_dict(path)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: expected a state dict of {self.arch_name}, got {type(state).__name__}")
        net = self.build_net()
        try:
            net.load_state_dict(strip_prefix(state), strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"{path}: not {self.checkpoint_label()} checkpoint ({exc})") from exc
        self.net = net.to(device).eval()

    def modules(self) -> list:
        return [] if self.net is None else [self.net]

    # -- running -------------------------------------------------------------------------------
    def _network(self, batch=None):
        if self.net is None:
            raise SolverError(f"{self.card.name}: setup() was not called")
        if batch is not None and int(batch.shape[1]) != LR_CHANNELS:
            raise SolverError(f"{self.card.name} takes RGB images, this one has {int(batch.shape[1])} channel(s): "
                              f"give the dataset 'mode: rgb' (as SR benchmarks read gray images as RGB)")
        return self.net

    def downscale(self, batch, ctx: Context):
        """The forward pass's low-res image, clamped to [0, 1]. The input is reflect-padded
        (bottom/right) to a multiple of the scale: the low-res size is ``ceil(H / s)``."""
        import torch
        import torch.nn.functional as F

        net, s = self._network(batch), self.scale
        h, w = int(batch.shape[-2]), int(batch.shape[-1])
        ph, pw = -h % s, -w % s
        x = batch.to(self.device, torch.float32)
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        with torch.inference_mode():
            out = self.lowres(net, x)
        return out.clamp(0, 1)

    def upscale(self, batch, ctx: Context):
        """Inverse pass on ``[LR, z * gaussian_scale]``; cropped to ``ctx.original_size``
        (``s`` times the input when the context has none)."""
        import torch

        net, s = self._network(batch), self.scale
        x = batch.to(self.device, torch.float32)
        n, _, h, w = x.shape
        z_shape = (n, LR_CHANNELS * (s * s - 1), h, w)
        with torch.inference_mode():
            z = self.latent(net, z_shape, x) * self.params["gaussian_scale"]
            out = net(torch.cat((x, z), 1), rev=True)[:, :LR_CHANNELS]
        oh, ow = ctx.original_size if ctx.original_size is not None else (h * s, w * s)
        if oh > h * s or ow > w * s:
            raise SolverError(f"{self.card.name}: original size {oh}x{ow} is larger than {s}x the "
                              f"low-resolution input {h}x{w}")
        return out[..., :int(oh), :int(ow)]


class IRN(InvertibleRescaler):
    """Base of the IRN rescalers: one official checkpoint per scale; ``z ~ N(0, 1)``."""

    arch_name = "IRN's InvRescaleNet"

    def checkpoint_label(self) -> str:
        return f"an IRN x{self.scale}"

    def weights_path(self, wf):
        from qbench.weights import local_path, missing_message

        path = local_path(wf)
        if not path.is_file():
            raise WeightsError(f"{missing_message(wf, path)} (the file is only on Google Drive; "
                               f"'qbench weights path {wf.filename}' prints this location)")
        return super().weights_path(wf)

    def build_net(self):
        return build_irn(self.scale)

    def lowres(self, net, x):
        return net(x)[:, :LR_CHANNELS]

    def latent(self, net, shape, like):
        import torch

        return torch.randn(shape, device=like.device, dtype=like.dtype)


class IRNx2(IRN):
    scale = 2
    card = SolverCard(
        name="irn_x2", task="rescale", paper=PAPER, license="", blind=True, channels=("rgb",),
        scale=2, weights=(_wf("IRN_x2.pth"),),
        description="invertible rescaling network, x2: forward for the low-res image, inverse with "
                    "z ~ N(0, 1); sizes reflect-padded to a multiple of 2 and cropped back")


class IRNx4(IRN):
    scale = 4
    card = SolverCard(
        name="irn_x4", task="rescale", paper=PAPER, license="", blind=True, channels=("rgb",),
        scale=4, weights=(_wf("IRN_x4.pth"),),
        description="invertible rescaling network, x4: forward for the low-res image, inverse with "
                    "z ~ N(0, 1); sizes reflect-padded to a multiple of 4 and cropped back")
