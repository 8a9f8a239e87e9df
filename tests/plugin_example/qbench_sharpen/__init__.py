"""An example qbench plugin: an unsharp-mask enhancer registered through an entry point."""

from qbench.solvers import Context, Enhancer, SolverCard


class Sharpen(Enhancer):
    card = SolverCard(name="sharpen", task="enhance", license="MIT", blind=True,
                      description="unsharp masking with a 3x3 box blur")
    defaults = {"amount": 0.3}

    def enhance(self, batch, ctx: Context):
        import torch.nn.functional as F

        blurred = F.avg_pool2d(batch, 3, stride=1, padding=1, count_include_pad=False)
        return batch + float(self.params["amount"]) * (batch - blurred)
