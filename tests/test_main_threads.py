"""CPU solvers in the main process use the cores the worker pool leaves, and only during a run."""

import os

import pytest

from qbench.runner import Runner
from qbench.solvers import Context, Enhancer, SolverCard
from qbench.suite import parse_suite

from .conftest import basic_suite, save, smooth_image

SEEN: list[int] = []


class ThreadCounter(Enhancer):
    """Records torch's intra-op thread count while it runs (in the main process)."""

    card = SolverCard(name="thread_counter", task="enhance", blind=True)

    def enhance(self, batch, ctx: Context):
        import torch

        SEEN.append(torch.get_num_threads())
        return batch


@pytest.mark.parametrize("workers", [0, 1])
def test_torch_threads_in_the_main_process_leave_the_pool_its_cores(tmp_path, workers):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    SEEN.clear()
    for i in range(2):
        save(smooth_image(90 + i, 40, 48), tmp_path / "imgs" / f"{i}.png")
    data = basic_suite(tmp_path / "imgs", solvers=[f"{__name__}:ThreadCounter"],
                       codecs=[{"name": "jpeg", "qualities": [30]}], metrics=["psnr_y"], anchor=None)
    res = Runner(parse_suite(data), tmp_path / "out", workers=workers, progress=False, device="cpu").run()
    assert not res.failures
    expected = max(1, (os.cpu_count() or 1) - workers) if workers else before
    assert SEEN and set(SEEN) == {expected}, (SEEN, expected)
    assert torch.get_num_threads() == before                # restored after the run
