"""A learned codec is a Codec: x -> LearnedCodec.encode -> bytes -> decode -> x_hat.

:class:`LearnedCodecCodec` wraps a :class:`~qbench.solvers.LearnedCodec` solver in the
:class:`~qbench.codecs.Codec` contract, so a learned codec stands wherever a codec does: in a
suite's ``codecs:`` list, as the BD-rate ``anchor``, with ``target_bpp`` rate control, followed by
any enhancer (``identity`` gives the codec alone) and with a row in the cost table. It runs on the
device in the runner's main process (``device_bound``), not in CPU workers.

Bitstream: one header byte holding the quality index, then the solver's bytes; rate counts both
(``bpp = 8 * len / (H * W)``), so the header is paid for like any container overhead.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..codecs.base import Codec, Encoded
from ..errors import CodecError, ConfigError
from .enhance import EnhancePipeline


class LearnedCodecCodec(Codec):
    """The codec face of a learned codec solver."""

    quality_name = "quality index"
    integer_quality = True
    device_bound = True

    def __init__(self, solver):
        from ..solvers import LearnedCodec

        if not isinstance(solver, LearnedCodec):
            raise ConfigError(f"{type(solver).__name__} is not a LearnedCodec")
        qualities = tuple(int(q) for q in solver.qualities)      # an instance may narrow its ladder
        if not qualities or min(qualities) < 0 or max(qualities) > 255:
            raise ConfigError(f"learned codec {solver.card.name!r} must declare integer qualities in 0..255")
        self.solver = solver
        self.name = solver.card.name
        self.qualities = qualities
        self.quality_range = (min(qualities), max(qualities))
        self.params = dict(solver.params)
        self.device = "cpu"

    def check_quality(self, quality: float) -> None:
        """Raise :class:`ConfigError` unless ``quality`` is one of the model's trained qualities."""
        if float(quality) not in {float(q) for q in self.qualities}:
            raise ConfigError(f"learned codec {self.name!r}: quality {quality:g} not in {list(self.qualities)}")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """torch's version."""
        import torch

        return {"torch": torch.__version__}

    def spec(self) -> dict[str, Any]:
        """The learned codec's own spec (weights included), torch's version and the code identity."""
        from ..codeid import code_identity

        return {"name": self.name, "learned": self.solver.spec(), "versions": self.library_versions(),
                **code_identity(self)}

    def setup(self, device: str) -> None:
        """Load weights and move to ``device`` (once, in the device process)."""
        self.solver.setup(device)
        self.device = device

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """The model's bitstream of ``img`` at quality ``quality``, on the device, after a byte that records the quality."""
        import torch

        from ..images import to_tensor

        q = int(round(quality))
        with torch.inference_mode():
            data = self.solver.encode(to_tensor(img, self.device), q)
        if not isinstance(data, (bytes, bytearray)):
            raise CodecError(f"{self.name}.encode returned {type(data).__name__}, not bytes")
        return Encoded(bytes([q]) + bytes(data), {})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """The model's reconstruction, quantised to uint8."""
        import torch

        from ..images import quantize

        if not data:
            raise CodecError(f"{self.name}: empty bitstream")
        with torch.inference_mode():
            out = self.solver.decode(bytes(data[1:]), int(data[0]))
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != 1:
            raise CodecError(f"{self.name}.decode must return a (1, C, H, W) tensor")
        if not bool(torch.isfinite(out).all()):
            raise CodecError(f"{self.name}.decode produced non-finite values")
        return quantize(out)[0]

    def cost_probe(self, ladder: list[float] | None = None) -> Callable:
        """encode + decode at the middle setting of ``ladder`` (the suite's qualities, whose
        weights a run has), else of the codec's own ladder, for the cost table."""
        points = [int(q) for q in ladder] if ladder else list(self.qualities)
        q = sorted(points)[len(points) // 2]

        def fn(x):
            return self.solver.decode(self.solver.encode(x, q), q)
        return fn

    def modules(self) -> list:
        """The learned codec's torch modules (for the device stage)."""
        return self.solver.modules()


class LearnedCodecPipeline(EnhancePipeline):
    """An enhancer (``identity`` included) after a learned codec: the code step runs on the device."""

    kind = "learned_codec"

    @classmethod
    def accepts(cls, solver, codec) -> bool:
        """An enhancer after a device-bound (learned) codec."""
        return super().accepts(solver, codec) and codec.device_bound
