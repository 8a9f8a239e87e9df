"""Learned codecs from CompressAI's model zoo (mse models, quality indices 1-6) as LearnedCodec solvers.

Each zoo network is built from :mod:`compressai.models` with the zoo's ``(N, M)`` for its quality,
its weights are the zoo's release file (``compressai.zoo.image.model_urls[...]["mse"][q]``), pinned
by the sha256 prefix in the file name (the torch.hub convention the zoo relies on), cached in
qbench's weights cache (``solvers/compressai``), loaded with ``torch.load(weights_only=True)``,
converted with CompressAI's own key renaming (``compressai.zoo.load_state_dict``) and finished
with ``update(force=True)``, which builds the range coder's CDF tables.

One solver instance serves the whole quality ladder: the network for a quality is loaded on first
use (``setup`` loads the first one whose file is present, so a missing cache fails early).

Bitstream (after qbench's one-byte quality header), little endian::

    uint16 H, uint16 W            original image size (the padding is cropped on decode)
    uint16 h, uint16 w            latent shape handed to ``decompress``
    uint8  n                      number of entropy-coded strings (1 factorized, 2 hyperprior)
    n x (uint32 length, bytes)    the rANS strings of ``net.compress``

Images are zero-padded to a multiple of 64, centred, as ``compressai.utils.eval_model`` does.
The autoregressive models (``mbt2018``, ``cheng2020_anchor``) run on the CPU whatever the device:
their decoder is a sequential per-pixel loop that CompressAI does not recommend on a GPU.
CompressAI is an optional dependency, imported when a codec is set up.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, ClassVar

from qbench.errors import CodecError, ConfigError, SolverError
from qbench.solvers import LearnedCodec, SolverCard
from qbench.weights import WeightFile

ZOO_URL = "https://compressai.s3.amazonaws.com/models/v1"
QUALITIES = (1, 2, 3, 4, 5, 6)
MULTIPLE = 64                          # 2**6: six stride-2 stages between image and hyper-latent
_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")   # torch.hub's HASH_REGEX
_HEAD = struct.Struct("<HHHHB")
_LEN = struct.Struct("<I")
INSTALL_HINT = "pip install --no-deps compressai (it needs torch, torchvision, numpy, einops, torch-geometric)"

# compressai/zoo/image.py: model_urls[arch]["mse"][q] file names, for the qualities qbench offers
_ZOO_FILES: dict[str, tuple[str, ...]] = {
    "bmshj2018-factorized": tuple(f"bmshj2018-factorized-prior-{q}-{h}.pth.tar" for q, h in zip(QUALITIES, (
        "446d5c7f", "87279a02", "5c6f152b", "1ed4405a", "866ba797", "9b02ea3a"))),
    "bmshj2018-hyperprior": tuple(f"bmshj2018-hyperprior-{q}-{h}.pth.tar" for q, h in zip(QUALITIES, (
        "7eb97409", "93677231", "6d87be32", "de1b779c", "f8b614e1", "1ab9c41e"))),
    "mbt2018-mean": tuple(f"mbt2018-mean-{q}-{h}.pth.tar" for q, h in zip(QUALITIES, (
        "e522738d", "e54a039d", "723404a8", "6dba02a3", "d504e8eb", "a19628ab"))),
    "mbt2018": tuple(f"mbt2018-{q}-{h}.pth.tar" for q, h in zip(QUALITIES, (
        "3f36cd77", "43b70cdd", "22901978", "456e2af9", "b4a046dd", "7052e5ea"))),
    "cheng2020-anchor": tuple(f"cheng2020-anchor-{q}-{h}.pth.tar" for q, h in zip(QUALITIES, (
        "dad2ebff", "a29008eb", "e49be189", "98b0b468", "23852949", "4c052b1a"))),
}

# compressai/zoo/image.py: cfgs[arch][q], the constructor arguments per quality
_ZOO_CFGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "bmshj2018-factorized": ((128, 192),) * 5 + ((192, 320),),
    "bmshj2018-hyperprior": ((128, 192),) * 5 + ((192, 320),),
    "mbt2018-mean": ((128, 192),) * 4 + ((192, 320),) * 2,
    "mbt2018": ((192, 192),) * 4 + ((192, 320),) * 2,
    "cheng2020-anchor": ((128,),) * 3 + ((192,),) * 3,
}


def hash_prefix(filename: str) -> str:
    """The sha256 prefix in a torch.hub-style release name (``name-<prefix>.pth.tar``)."""
    match = _HASH_IN_NAME.search(filename)
    if not match or not match.group(1):
        raise ValueError(f"no hash prefix in {filename!r}")
    return match.group(1)


def zoo_weights(arch: str) -> tuple[WeightFile, ...]:
    """The zoo's mse weight files of ``arch`` for qualities 1-6, pinned by their name's hash prefix."""
    return tuple(WeightFile(name, f"{ZOO_URL}/{name}", sha256_prefix=hash_prefix(name), subdir="solvers/compressai",
                            description=f"CompressAI zoo {arch} mse quality {q}")
                 for q, name in zip(QUALITIES, _ZOO_FILES[arch]))


def import_compressai(who: str = "the CompressAI codecs"):
    """``compressai`` (with its models and zoo), or a SolverError saying how to install it."""
    try:
        import compressai
        import compressai.models
        import compressai.zoo
    except ImportError as exc:
        raise SolverError(f"{who} needs CompressAI: {INSTALL_HINT} "
                          f"(or pip install 'qbench[compressai]'); import failed: {exc}") from exc
    return compressai


def pack(height: int, width: int, shape, strings) -> bytes:
    """Serialise ``net.compress`` output (batch of one) and the original size to bytes."""
    groups = [s[0] if isinstance(s, (list, tuple)) else s for s in strings]
    if any(isinstance(s, (list, tuple)) and len(s) != 1 for s in strings):
        raise CodecError("CompressAI returned strings for more than one image")
    lat_h, lat_w = (int(v) for v in shape)
    out = [_HEAD.pack(height, width, lat_h, lat_w, len(groups))]
    for s in groups:
        out += [_LEN.pack(len(s)), bytes(s)]
    return b"".join(out)


def unpack(data: bytes) -> tuple[int, int, tuple[int, int], list[list[bytes]]]:
    """Inverse of :func:`pack`: (H, W, latent shape, strings as ``decompress`` takes them)."""
    if len(data) < _HEAD.size:
        raise CodecError(f"CompressAI bitstream too short ({len(data)} bytes)")
    height, width, lat_h, lat_w, n = _HEAD.unpack_from(data)
    pos, strings = _HEAD.size, []
    for _ in range(n):
        if pos + _LEN.size > len(data):
            raise CodecError("CompressAI bitstream truncated (string length)")
        (length,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if pos + length > len(data):
            raise CodecError("CompressAI bitstream truncated (string body)")
        strings.append([data[pos:pos + length]])
        pos += length
    if pos != len(data):
        raise CodecError(f"CompressAI bitstream has {len(data) - pos} trailing bytes")
    return height, width, (lat_h, lat_w), strings


class CompressAICodec(LearnedCodec):
    """Base: a CompressAI zoo architecture, one network (and weight file) per quality index."""

    #: key of compressai.zoo.image.model_architectures / cfgs / model_urls
    arch: ClassVar[str] = ""
    #: attribute of compressai.models that builds the network
    model_class: ClassVar[str] = ""
    #: sequential (autoregressive) decoder: run on the CPU
    autoregressive: ClassVar[bool] = False
    #: the latent shape ``compress`` returns is the padded image size over this
    latent_stride: ClassVar[int] = 64
    qualities: ClassVar[tuple[float, ...]] = QUALITIES

    defaults: ClassVar[dict[str, Any]] = {"checkpoint": None}

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._nets: dict[int, Any] = {}
        self.checkpoints = _checkpoints(self.card.name, self.params["checkpoint"])
        if self.checkpoints:        # one's own networks: quality i is the i-th file
            self.qualities = tuple(range(1, len(self.checkpoints) + 1))

    # -- weights ------------------------------------------------------------------------
    def weights_sha256(self) -> list[str]:
        """The pins of the ladder's files (the release names carry sha256 prefixes only), or the
        sha256 of each checkpoint given (read once per instance)."""
        if self.checkpoints:
            from qbench.weights import sha256_file

            if "_sha256" not in self.__dict__:
                self._sha256 = [sha256_file(p) for p in self.checkpoints]
            return list(self._sha256)
        return [wf.sha256 or f"sha256-prefix:{wf.sha256_prefix}" for wf in self.card.weights]

    def spec(self) -> dict[str, Any]:
        """The solver spec plus CompressAI's version (its entropy coder writes the bytes); the
        checkpoints enter by content (``weights``), not by path."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            cai = version("compressai")
        except PackageNotFoundError:
            cai = "absent"
        spec = super().spec()
        spec["params"] = {k: v for k, v in spec["params"].items() if k != "checkpoint"}
        if self.checkpoints:
            spec["checkpoints"] = len(self.checkpoints)
        return {**spec, "compressai": cai}

    def needed_weights(self, qualities=None) -> list:
        """The ladder's files at ``qualities``; none when checkpoints were given by path."""
        if self.checkpoints:
            return []
        return list(dict.fromkeys(self.weight_for(q) for q in qualities)) if qualities else list(self.card.weights)

    def weight_for(self, quality: int) -> WeightFile:
        return self.card.weights[self._index(quality)]

    def _index(self, quality) -> int:
        ladder = tuple(int(q) for q in self.qualities)
        q = round(float(quality))
        if q not in ladder or float(quality) != q:
            raise ConfigError(f"{self.card.name}: quality {quality!r} not in {list(ladder)}"
                              + (" (one per checkpoint)" if self.checkpoints else ""))
        return ladder.index(q)

    def net_device(self) -> str:
        return "cpu" if self.autoregressive else self.device

    def setup(self, device: str = "cpu") -> None:
        """Check CompressAI, then load the first quality whose file is present (fail early on a
        broken file). Missing files are not an error here: each quality's jobs fail on their own,
        naming that quality's file (:meth:`network`)."""
        from qbench.weights import local_path

        super().setup(device)
        import_compressai(self.card.name)
        if self.checkpoints:
            self.network(1)
            return
        present = [q for q, wf in zip(QUALITIES, self.card.weights) if local_path(wf).is_file()]
        if present:
            self.network(present[0])

    def network(self, quality):
        """The network for ``quality`` on its device, in eval mode, CDF tables built (cached)."""
        i = self._index(quality)
        q = int(self.qualities[i])
        if q in self._nets:
            return self._nets[q]
        import torch

        from qbench.weights import ensure

        compressai = import_compressai(self.card.name)
        path = self.checkpoints[i] if self.checkpoints else ensure(self.card.weights[i], allow_download=False)
        with torch.inference_mode(False), torch.no_grad():   # plain tensors, even when first
            net = self._build(compressai, path, i)           # used inside inference mode
        self._nets[q] = net
        return net

    def _build(self, compressai, path, i: int):
        from qbench.errors import WeightsError
        from qbench.weights import load_state_dict, sha256_file

        q = int(self.qualities[i])
        if self.checkpoints and sha256_file(path) != self.weights_sha256()[i]:
            raise WeightsError(f"{self.card.name}: checkpoint {path} changed during the run")
        state = load_state_dict(path)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]             # training checkpoints wrap the weights
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
        if state and all(str(k).startswith("module.") for k in state):     # saved from DataParallel
            state = {str(k)[len("module."):]: v for k, v in state.items()}
        state = compressai.zoo.load_state_dict(state)   # CompressAI's renaming of old keys
        cls = getattr(compressai.models, self.model_class)
        what = f"{self.arch} network" if self.checkpoints else f"{self.arch} quality {q} network"
        try:
            if self.checkpoints:    # sizes (N, M) from the weights; every key must match (strict)
                net = cls.from_state_dict(state)
            else:
                net = cls(*_ZOO_CFGS[self.arch][i])
                net.load_state_dict(state)         # CompressAI's override resizes the CDF buffers
        except (RuntimeError, KeyError, ValueError, AttributeError, IndexError) as exc:
            raise WeightsError(f"{path}: not a {what} "
                               f"({type(exc).__name__}: {str(exc)[:300]})") from exc
        net = net.to(self.net_device()).eval()
        net.update(force=True)                  # the range coder's CDF tables
        return net

    def modules(self) -> list:
        return list(self._nets.values())

    # -- coding -------------------------------------------------------------------------
    def encode(self, image, quality: float) -> bytes:
        import torch
        import torch.nn.functional as F

        if image.ndim != 4 or image.shape[0] != 1:
            raise SolverError(f"{self.card.name}.encode takes one (1, C, H, W) image, got {tuple(image.shape)}")
        if image.shape[1] != 3:
            raise SolverError(f"{self.card.name} codes RGB images only (got {image.shape[1]} channel(s)); "
                              "use an RGB dataset")
        height, width = int(image.shape[2]), int(image.shape[3])
        if not (0 < height <= 0xFFFF and 0 < width <= 0xFFFF):
            raise SolverError(f"{self.card.name}: image size {height}x{width} outside 1..65535")
        net = self.network(quality)
        pad, _ = _padding(height, width)
        with torch.inference_mode():
            x = F.pad(image.to(self.net_device(), torch.float32).clamp(0, 1), pad, mode="constant", value=0)
            out = net.compress(x)
        return pack(height, width, out["shape"], out["strings"])

    def decode(self, data: bytes, quality: float):
        import torch
        import torch.nn.functional as F

        height, width, shape, strings = unpack(bytes(data))
        net = self.network(quality)
        pad, unpad = _padding(height, width)
        stride = self.latent_stride
        expected = ((height + pad[2] + pad[3]) // stride, (width + pad[0] + pad[1]) // stride)
        if shape != expected:
            raise CodecError(f"{self.card.name}: latent shape {shape} does not fit a {height}x{width} image")
        try:
            with torch.inference_mode():
                x_hat = net.decompress(strings, list(shape))["x_hat"]
        except (AssertionError, RuntimeError, ValueError) as exc:
            raise CodecError(f"{self.card.name}: CompressAI cannot decode the bitstream "
                             f"({type(exc).__name__}: {exc})") from exc
        x_hat = F.pad(x_hat, unpad)
        return x_hat.clamp(0, 1).to(self.device)


def _checkpoints(name: str, value: Any) -> tuple[Path, ...]:
    """``params.checkpoint``: one path (quality 1) or a list of paths (qualities 1..n); each must exist."""
    from qbench.errors import WeightsError

    if value is None:
        return ()
    items = [value] if isinstance(value, (str, Path)) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(v, (str, Path)) for v in items):
        raise ConfigError(f"{name}: checkpoint must be a path or a non-empty list of paths, got {value!r}")
    if len(items) > 255:
        raise ConfigError(f"{name}: at most 255 checkpoints (one byte of quality in the bitstream)")
    paths = tuple(Path(str(v)).expanduser().resolve() for v in items)
    for given, p in zip(items, paths):
        if not p.is_file():
            raise WeightsError(f"{name}: checkpoint {str(given)!r} not found (looked at {p})")
    return paths


def _padding(height: int, width: int):
    """(pad, unpad) to a multiple of 64, centred, as compressai.ops.compute_padding."""
    out_h = -(-height // MULTIPLE) * MULTIPLE
    out_w = -(-width // MULTIPLE) * MULTIPLE
    left, top = (out_w - width) // 2, (out_h - height) // 2
    right, bottom = out_w - width - left, out_h - height - top
    return (left, right, top, bottom), (-left, -right, -top, -bottom)


def _card(name: str, arch: str, paper: str) -> SolverCard:
    return SolverCard(name=name, task="codec", paper=paper, license="BSD-3-Clause-Clear (CompressAI)",
                      weights=zoo_weights(arch), blind=False, channels=("rgb",),
                      description=f"CompressAI zoo {arch}, mse-optimised, quality indices 1-6")


_BMSHJ = "Ballé et al., Variational image compression with a scale hyperprior, ICLR 2018"
_MBT = "Minnen et al., Joint autoregressive and hierarchical priors for learned image compression, NeurIPS 2018"


class Bmshj2018Factorized(CompressAICodec):
    arch, model_class, latent_stride = "bmshj2018-factorized", "FactorizedPrior", 16
    card = _card("bmshj2018_factorized", arch, _BMSHJ + " (factorized prior)")


class Bmshj2018Hyperprior(CompressAICodec):
    arch, model_class = "bmshj2018-hyperprior", "ScaleHyperprior"
    card = _card("bmshj2018_hyperprior", arch, _BMSHJ)


class Mbt2018Mean(CompressAICodec):
    arch, model_class = "mbt2018-mean", "MeanScaleHyperprior"
    card = _card("mbt2018_mean", arch, _MBT + " (mean-scale hyperprior)")


class Mbt2018(CompressAICodec):
    arch, model_class, autoregressive = "mbt2018", "JointAutoregressiveHierarchicalPriors", True
    card = _card("mbt2018", arch, _MBT)


class Cheng2020Anchor(CompressAICodec):
    arch, model_class, autoregressive = "cheng2020-anchor", "Cheng2020Anchor", True
    card = _card("cheng2020_anchor", arch, "Cheng et al., Learned image compression with discretized Gaussian "
                 "mixture likelihoods and attention modules, CVPR 2020 (anchor)")


CODECS = (Bmshj2018Factorized, Bmshj2018Hyperprior, Mbt2018Mean, Mbt2018, Cheng2020Anchor)
