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


class WrongDtype(Enhancer):
    """Returns 8-bit integers (0-255) instead of floats in [0, 1]."""

    card = SolverCard(name="wrong_dtype", task="enhance")

    def enhance(self, batch, ctx: Context):
        import torch

        return (batch * 255).round().to(torch.uint8)


class ReturnsArray(Enhancer):
    """Returns a numpy array instead of a tensor."""

    card = SolverCard(name="returns_array", task="enhance")

    def enhance(self, batch, ctx: Context):
        return batch.cpu().numpy()


class AlwaysOOM(Enhancer):
    """Raises the CUDA out-of-memory error (the exception class exists on CPU builds too)."""

    card = SolverCard(name="always_oom", task="enhance")

    def enhance(self, batch, ctx: Context):
        import torch

        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (test)")


class OOMAbove(Enhancer):
    """Runs through the engine; its 'network' runs out of memory on inputs wider than ``max_side``,
    so the engine must retry with smaller tiles. Records the input sides it saw."""

    card = SolverCard(name="oom_above", task="enhance")
    defaults = {"max_side": 128}
    sides: list = []

    def enhance(self, batch, ctx: Context):
        import torch

        from qbench.solvers.engine import run_model

        def net(x):
            type(self).sides.append(max(x.shape[-2:]))
            if max(x.shape[-2:]) > self.params["max_side"]:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
            return x + 0.0

        return run_model(net, batch, self.engine)


class EarlyExit(Enhancer):
    """A cascade of 3x3 box blurs that stops early on flat images: an image whose pixel standard
    deviation is below ``flat_std`` leaves after stage 0, any other after the last stage. Reports
    per image (batched) its exit index and the FLOPs of the stages it ran."""

    card = SolverCard(name="early_exit", task="enhance")
    defaults = {"flat_std": 0.02, "stages": 3, "batch_size": 2}

    def enhance(self, batch, ctx: Context):
        import torch.nn.functional as F

        n, c, h, w = batch.shape
        last = int(self.params["stages"]) - 1
        exits = [0 if float(batch[i].std()) < self.params["flat_std"] else last for i in range(n)]
        out = batch.clone()
        for i, e in enumerate(exits):
            x = batch[i:i + 1]
            for _ in range(e + 1):
                x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
            out[i:i + 1] = 0.5 * batch[i:i + 1] + 0.5 * x
        ctx.report(exit=exits, flops=[float(2 * 9 * c * h * w * (e + 1)) for e in exits])
        return out


class Oracle(Enhancer):
    """Returns the original, read from ``folder`` by image name (``<name>.png``): E = O exactly,
    a known answer for the triplet diagnostics."""

    card = SolverCard(name="oracle", task="enhance")
    defaults = {"folder": ""}

    def enhance(self, batch, ctx: Context):
        import numpy as np
        import torch

        from qbench.images import read_image

        outs = [torch.from_numpy(read_image(os.path.join(self.params["folder"], f"{n}.png"), "auto")
                                 .astype(np.float32) / 255.0).permute(2, 0, 1) for n in ctx.image_names]
        return torch.stack(outs).to(device=batch.device, dtype=batch.dtype)


class SlowImages(Enhancer):
    """Sleeps per call on real images (not on the cost probe), so a test can kill a run part-way."""

    card = SolverCard(name="slow_images", task="enhance")

    def enhance(self, batch, ctx: Context):
        if ctx.codec != "probe":
            time.sleep(float(os.environ.get("QBENCH_TEST_SLEEP", "0.15")))
        return batch


def _jpeg():
    from qbench.codecs.jpeg import PillowJPEG

    return PillowJPEG


class KillsWorkerOnce(_jpeg()):
    """JPEG whose first encode in a pool worker SIGKILLs that worker (as the OOM killer would);
    ``marker`` is the file that records that it happened."""

    name = "kills_worker_once"
    defaults = {**_jpeg().defaults, "marker": ""}

    def encode(self, img, quality):
        import multiprocessing
        import signal

        marker = self.params["marker"]
        if marker and multiprocessing.parent_process() is not None and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode(img, quality)


class KillsItsWorker(Enhancer):
    """Brightens; on the image named ``victim`` it kills the device worker running it (its Ray
    actor with ``ray.kill``, else its process with SIGKILL), unless the file ``spare`` exists
    or it runs in the process ``spare_pid``. With ``once`` it creates ``spare`` before killing."""

    card = SolverCard(name="kills_its_worker", task="enhance")
    defaults = {"victim": "", "spare": "", "spare_pid": 0, "once": True}

    def enhance(self, batch, ctx: Context):
        from pathlib import Path

        spare = Path(self.params["spare"])
        if (self.params["victim"] in ctx.image_names and not spare.exists()
                and os.getpid() != self.params["spare_pid"]):
            if self.params["once"]:
                spare.touch()
            self._kill()
        return batch + 0.02

    @staticmethod
    def _kill() -> None:
        import signal

        try:
            import ray

            actor = ray.get_runtime_context().current_actor if ray.is_initialized() else None
        except (ImportError, RuntimeError):
            actor = None
        if actor is not None:
            ray.kill(actor)
        else:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)


class Noisy(Enhancer):
    """Adds seeded Gaussian noise: its output depends on the generator state the runner sets."""

    card = SolverCard(name="noisy", task="enhance")

    def enhance(self, batch, ctx: Context):
        import torch

        return batch + 0.05 * torch.randn_like(batch)
