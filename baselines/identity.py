"""The identity enhancer: measures the codec alone (the row every method is compared with)."""

from __future__ import annotations

from qbench.solvers import Context, Enhancer, SolverCard


class Identity(Enhancer):
    card = SolverCard(name="identity", task="enhance", license="MIT", blind=True,
                      description="returns the decoded image unchanged")
    #: the output is the compressed image itself: the pipeline stores and measures it once
    passthrough = True

    def enhance(self, batch, ctx: Context):
        return batch
