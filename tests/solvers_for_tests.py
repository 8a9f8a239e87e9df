"""Solvers used by the tests through import strings (tests.solvers_for_tests:Name)."""

from __future__ import annotations

import os
import time

from qbench.solvers import Context, Enhancer, LearnedCodec, Rescaler, SolverCard


class Brighten(Enhancer):
    card = SolverCard(name="brighten", task="enhance")
    defaults = {"delta": 0.01}

    def enhance(self, batch, ctx: Context):
        return batch + self.params["delta"]


class Explodes(Enhancer):
    card = SolverCard(name="explodes", task="enhance")

    def enhance(self, batch, ctx: Context):
        if ctx.quality and ctx.quality < 30:
            raise RuntimeError("boom at low quality")
        return batch


class MakesNaN(Enhancer):
    card = SolverCard(name="makes_nan", task="enhance")

    def enhance(self, batch, ctx: Context):
        return batch * float("nan")


class WrongShape(Enhancer):
    card = SolverCard(name="wrong_shape", task="enhance")

    def enhance(self, batch, ctx: Context):
        return batch[..., :-1]


class Slow(Enhancer):
    """Sleeps per call so a test can kill a run part-way."""

    card = SolverCard(name="slow", task="enhance")

    def enhance(self, batch, ctx: Context):
        time.sleep(float(os.environ.get("QBENCH_TEST_SLEEP", "0.15")))
        return batch


class Batched(Enhancer):
    """Records the batch sizes it is called with; NaN for the image named in ``poison``."""

    card = SolverCard(name="batched", task="enhance")
    defaults = {"batch_size": 4, "poison": ""}
    calls: list = []

    def enhance(self, batch, ctx: Context):
        type(self).calls.append(batch.shape[0])
        out = batch.clone()
        for i, name in enumerate(ctx.image_names):
            if name == self.params["poison"]:
                out[i] = float("nan")
        return out


class SlowRescaler(Rescaler):
    """Average-pool down by 2, nearest up; sleeps per upscale so a test can kill a run part-way."""

    card = SolverCard(name="slow_rescaler", task="rescale", scale=2)

    def downscale(self, batch, ctx: Context):
        import torch.nn.functional as F

        return F.avg_pool2d(batch, 2, ceil_mode=True)

    def upscale(self, batch, ctx: Context):
        import torch.nn.functional as F

        time.sleep(float(os.environ.get("QBENCH_TEST_SLEEP", "0")))
        return F.interpolate(batch, size=ctx.original_size, mode="nearest")


class BitplaneCodec(LearnedCodec):
    """A small lossy codec with real bytes: keep the top ``quality + 2`` bits of each 8-bit
    sample, then zlib. Deterministic, monotone in rate; sleeps per decode when asked."""

    card = SolverCard(name="bitplane", task="codec")
    qualities = (1, 2, 3, 4, 5, 6)
    defaults = {"level": 6}

    def encode(self, image, quality: float) -> bytes:
        import struct
        import zlib

        import numpy as np

        bits = int(quality) + 2
        arr = (image[0].clamp(0, 1) * 255).round().to("cpu").numpy().astype(np.uint8)
        kept = (arr >> (8 - bits)).astype(np.uint8)
        c, h, w = arr.shape
        return struct.pack("<BHH", c, h, w) + zlib.compress(kept.tobytes(), int(self.params["level"]))

    def decode(self, data: bytes, quality: float):
        import struct
        import zlib

        import numpy as np
        import torch

        time.sleep(float(os.environ.get("QBENCH_TEST_SLEEP", "0")))
        bits = int(quality) + 2
        c, h, w = struct.unpack("<BHH", data[:5])
        kept = np.frombuffer(zlib.decompress(data[5:]), np.uint8).reshape(c, h, w)
        step = 1 << (8 - bits)
        arr = kept.astype(np.float32) * step + (step - 1) / 2.0
        return torch.from_numpy(arr / 255.0)[None].to(self.device)
