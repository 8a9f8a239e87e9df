"""x -> codec -> y -> Enhancer -> x_hat."""

from __future__ import annotations

from .base import Pipeline


class EnhancePipeline(Pipeline):
    """x -> library codec -> y -> Enhancer -> x_hat."""

    kind = "enhance"

    @classmethod
    def accepts(cls, solver, codec) -> bool:
        """Any enhancer."""
        from ..solvers import Enhancer

        return isinstance(solver, Enhancer)

    def post(self, batch, ctx):
        """The enhancer's output."""
        return self.solver.enhance(batch, ctx)
