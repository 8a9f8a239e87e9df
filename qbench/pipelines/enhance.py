"""x -> codec -> y -> Enhancer -> x_hat."""

from __future__ import annotations

from .base import Pipeline


class EnhancePipeline(Pipeline):
    """x -> library codec -> y -> Enhancer -> x_hat."""

    kind = "enhance"

    @classmethod
    def accepts(cls, solver, codec) -> bool:
        from ..solvers import Enhancer

        return isinstance(solver, Enhancer)

    def post(self, batch, ctx):
        return self.solver.enhance(batch, ctx)
