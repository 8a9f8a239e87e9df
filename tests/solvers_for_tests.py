"""Solvers used by the tests through import strings (tests.solvers_for_tests:Name)."""

from __future__ import annotations

import os
import time

from qbench.solvers import Context, Enhancer, SolverCard


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
