"""The contract the invertible rescalers (IRN, SAIN) share, checked once for both: a missing
checkpoint is named with where to place it and where it comes from, the checkpoint's sha256
enters the solver's spec, and down/up keep shapes, range and seeding. No network: checkpoints are
random-init state dicts of the real nets."""
import math

import pytest
import torch

from qbench_baselines.irn import IRNx2, IRNx4, build_irn
from qbench_baselines.sain import SAINx2JPEG, SAINx4JPEG, build_sain
from qbench.errors import WeightsError
from qbench.solvers import Context
from qbench.weights import local_path

from .test_irn import perturbed as irn_perturbed
from .test_irn import place
from .test_sain import perturbed as sain_perturbed
from .test_sain import unpinned_for_test_made_weights  # noqa: F401  (autouse: test-made SAIN files)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: (solver of the missing file, file name, what the message says about where to get it)
MISSING = {"irn": (IRNx4, "IRN_x4.pth", ("drive.google.com", "qbench weights path IRN_x4.pth")),
           "sain": (SAINx4JPEG, "SAINx4_JPEG.pth", ("raw.githubusercontent.com/yang-jin-hai/SAIN/",
                                                    "qbench weights fetch"))}

#: (solver, file name, a freshly built net, a perturbed one)
SPEC = {"irn": (IRNx2, "IRN_x2.pth", lambda: build_irn(2), lambda: irn_perturbed(2)),
        "sain": (SAINx2JPEG, "SAINx2_JPEG.pth", lambda: build_sain("SAINx2_JPEG.pth"),
                 lambda: sain_perturbed("SAINx2_JPEG.pth"))}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_missing_file_names_it_and_where_to_place_it(case):
    cls, filename, hints = MISSING[case]
    with pytest.raises(WeightsError) as info:
        cls().setup("cpu")
    msg = str(info.value)
    assert filename in msg and str(local_path(cls.card.weights[0])) in msg
    assert all(h in msg for h in hints), msg


@pytest.mark.parametrize("case", sorted(SPEC))
def test_the_files_sha256_enters_the_spec(case):
    cls, filename, fresh, perturbed = SPEC[case]
    absent = cls().spec_hash()
    place(cls, fresh().state_dict())
    first = cls()
    assert first.spec()["weights"][0] != f"absent:{filename}" and len(first.spec()["weights"][0]) == 64
    place(cls, perturbed().state_dict())
    second = cls()
    assert len({absent, first.spec_hash(), second.spec_hash()}) == 3


#: (solver, a perturbed net of it, whether its latent is random: another seed gives another output)
RESCALE = {"irn_x2": (IRNx2, lambda: irn_perturbed(2), False), "irn_x4": (IRNx4, lambda: irn_perturbed(4), False),
           "sain_x2": (SAINx2JPEG, lambda: sain_perturbed("SAINx2_JPEG.pth"), True),
           "sain_x4": (SAINx4JPEG, lambda: sain_perturbed("SAINx4_JPEG.pth"), True)}
SIZES = {2: (45, 61), 4: (45, 62)}


@pytest.mark.parametrize("case", sorted(RESCALE))
def test_down_and_up_pad_crop_range_and_seeding(case):
    cls, net, random_latent = RESCALE[case]
    size = SIZES[cls.scale]
    place(cls, net().state_dict())
    solver = cls()
    solver.setup("cpu")
    s = cls.scale
    x = torch.rand(1, 3, *size)
    ctx = Context(original_size=size)
    low = solver.downscale(x, ctx)
    assert low.shape == (1, 3, math.ceil(size[0] / s), math.ceil(size[1] / s))
    assert low.min() >= 0 and low.max() <= 1
    torch.manual_seed(5)
    up = solver.upscale(low, ctx)
    torch.manual_seed(5)
    assert up.shape == (1, 3, *size) and torch.equal(up, solver.upscale(low, ctx))   # seeded: reproducible
    if random_latent:
        torch.manual_seed(6)
        assert not torch.equal(up, solver.upscale(low, ctx))             # the latent is random
    # without a context size: s times the low-res input
    assert solver.upscale(low, Context()).shape[-2:] == (low.shape[-2] * s, low.shape[-1] * s)
