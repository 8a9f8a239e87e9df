"""Learned enhancers loaded through spandrel from their official release files.

Weights are looked up in qbench's weights cache (``qbench weights list``), verified against their
pin where one is known (the Real-ESRGAN release files; the FBCNN, SwinIR and KAIR releases publish
no checksums, so their observed sha256 enters the cache keys instead), loaded with
``torch.load(weights_only=True)`` and handed to spandrel, which detects the architecture from the
state dict; a file of another architecture is rejected.
"""

from __future__ import annotations

from typing import Any, ClassVar

from qbench.errors import WeightsError
from qbench.solvers import Context, Enhancer, SolverCard
from qbench.solvers.base import torch_versions
from qbench.weights import WeightFile

GH = "https://github.com"


def _wf(name: str, url: str, subdir: str, sha256: str | None = None, size: int | None = None) -> WeightFile:
    return WeightFile(name, url, sha256=sha256, size=size, subdir=f"solvers/{subdir}")


def load_spandrel(path, architecture: str = "", sha256: str | None = None):
    """The spandrel model descriptor of a checkpoint: loaded with ``torch.load(weights_only=True)``,
    unwrapped from BasicSR/KAIR training containers (``params_ema``, ``params``, ``state_dict``),
    and recognised by spandrel's registry of known architectures (nothing else is built); when
    ``architecture`` is given (a spandrel id such as ``FBCNN``) another one is refused; with
    ``sha256`` the loaded bytes must have that hash (:func:`qbench.weights.load_state_dict`)."""
    from spandrel import ModelLoader

    from qbench.weights import load_state_dict

    state = load_state_dict(path, sha256)
    if isinstance(state, dict):
        for key in ("params_ema", "params", "state_dict"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    try:
        desc = ModelLoader().load_from_state_dict(state)
    except Exception as exc:
        raise WeightsError(f"{path}: spandrel cannot load it ({type(exc).__name__}: {exc})") from exc
    if architecture and desc.architecture.id != architecture:
        raise WeightsError(f"{path}: holds a {desc.architecture.id} network, expected {architecture}")
    return desc


class SpandrelEnhancer(Enhancer):
    """Base: one weight file (or one per quality), an expected spandrel architecture id."""

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """torch's and spandrel's versions: they build and run the network."""
        import spandrel

        return {**torch_versions(), "spandrel": spandrel.__version__}

    architecture: ClassVar[str] = ""
    defaults: dict[str, Any] = {}

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._models: dict[str, Any] = {}

    # -- weights ------------------------------------------------------------------------
    def weight_for(self, ctx: Context | None) -> WeightFile:
        return self.card.weights[0]

    def setup(self, device: str = "cpu") -> None:
        super().setup(device)
        self._load(self.weight_for(None))      # fail early, before any image is processed

    def _load(self, wf: WeightFile):
        if wf.filename in self._models:
            return self._models[wf.filename]
        from qbench.weights import ensure

        desc = load_spandrel(ensure(wf, allow_download=False), self.architecture)
        desc.to(self.device).eval()
        self._models[wf.filename] = desc
        return desc

    def modules(self) -> list:
        return [d.model for d in self._models.values()]

    # -- running ------------------------------------------------------------------------
    def network(self, ctx: Context):
        return self._load(self.weight_for(ctx))

    def forward(self, desc, x, ctx: Context):
        return desc(x)

    def enhance(self, batch, ctx: Context):
        from qbench.solvers.engine import run_model

        desc = self.network(ctx)
        multiple = max(1, int(getattr(desc.size_requirements, "multiple_of", 1) or 1))
        out = run_model(lambda x: self.forward(desc, x, ctx), batch, self.engine, multiple)
        return out.clamp(0, 1)


class RealESRGAN(SpandrelEnhancer):
    """Real-ESRGAN x4plus as a 1x restorer: x4 super-resolution, then Lanczos back to the input
    size, as Real-ESRGAN's own inference does with ``--outscale 1``."""

    architecture = "ESRGAN"
    card = SolverCard(
        name="realesrgan_x4plus", task="enhance", paper="Wang et al., Real-ESRGAN, ICCVW 2021",
        license="BSD-3-Clause", blind=True, channels=("rgb",), scale=1,
        weights=(_wf("RealESRGAN_x4plus.pth", f"{GH}/xinntao/Real-ESRGAN/releases/download/v0.1.0/"
                     "RealESRGAN_x4plus.pth", "realesrgan",
                     "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67040989),))

    def enhance(self, batch, ctx: Context):
        import cv2
        import torch

        from qbench.images import quantize, to_tensor

        if batch.shape[1] == 1:
            batch = batch.repeat(1, 3, 1, 1)
            gray = True
        else:
            gray = False
        big = super().enhance(batch, ctx)
        h, w = batch.shape[-2:]
        outs = []
        for img in quantize(big):
            small = cv2.resize(img, (w, h), interpolation=cv2.INTER_LANCZOS4)
            outs.append(to_tensor(small if small.ndim == 3 else small[:, :, None], batch.device))
        out = torch.cat(outs)
        return out.mean(dim=1, keepdim=True) if gray else out


class RealESRGANGeneral(RealESRGAN):
    architecture = "Compact"        # spandrel's id for SRVGGNetCompact
    card = SolverCard(
        name="realesr_general_x4v3", task="enhance", paper="Wang et al., Real-ESRGAN, ICCVW 2021",
        license="BSD-3-Clause", blind=True, channels=("rgb",), scale=1,
        weights=(_wf("realesr-general-x4v3.pth", f"{GH}/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/"
                     "realesr-general-x4v3.pth", "realesrgan",
                     "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4885111),))


class FBCNNColor(SpandrelEnhancer):
    """FBCNN (blind; predicts the JPEG quality factor). ``qf`` overrides the predicted one."""

    architecture = "FBCNN"
    defaults: dict[str, Any] = {**SpandrelEnhancer.defaults, "qf": None}
    param_types = {"qf": (int, type(None))}
    card = SolverCard(
        name="fbcnn_color", task="enhance", paper="Jiang et al., Towards Flexible Blind JPEG Artifacts "
        "Removal, ICCV 2021", license="Apache-2.0", blind=True, channels=("rgb",),
        weights=(_wf("fbcnn_color.pth", f"{GH}/jiaxi-jiang/FBCNN/releases/download/v1.0/fbcnn_color.pth",
                     "fbcnn"),))

    def forward(self, desc, x, ctx: Context):
        if self.params["qf"] is None:
            return desc(x)
        import torch

        qf = torch.full((x.shape[0], 1), 1 - float(self.params["qf"]) / 100.0, device=x.device)
        out = desc.model(x, qf)
        return out[0] if isinstance(out, (tuple, list)) else out


class FBCNNGray(FBCNNColor):
    card = SolverCard(
        name="fbcnn_gray", task="enhance", paper="Jiang et al., ICCV 2021", license="Apache-2.0",
        blind=True, channels=("gray",),
        weights=(_wf("fbcnn_gray.pth", f"{GH}/jiaxi-jiang/FBCNN/releases/download/v1.0/fbcnn_gray.pth",
                     "fbcnn"),))


class DnCNN3(SpandrelEnhancer):
    """DnCNN-3: one blind model for denoising, super-resolution and JPEG deblocking (gray)."""

    architecture = "DnCNN"
    card = SolverCard(
        name="dncnn3", task="enhance", paper="Zhang et al., Beyond a Gaussian Denoiser, TIP 2017",
        license="MIT", blind=True, channels=("gray",),
        weights=(_wf("dncnn3.pth", f"{GH}/cszn/KAIR/releases/download/v1.0/dncnn3.pth", "dncnn"),))


SWINIR_QF = (10, 20, 30, 40)


def _swinir(color: bool) -> tuple[WeightFile, ...]:
    stem = "006_colorCAR_DFWB_s126w7_SwinIR-M_jpeg" if color else "006_CAR_DFWB_s126w7_SwinIR-M_jpeg"
    return tuple(_wf(f"{stem}{q}.pth", f"{GH}/JingyunLiang/SwinIR/releases/download/v0.0/{stem}{q}.pth",
                     "swinir") for q in SWINIR_QF)


class SwinIRCARGray(SpandrelEnhancer):
    """SwinIR compression-artifact reduction: one model per JPEG quality (10/20/30/40); the model
    for the run's quality is used (the nearest one otherwise) — a non-blind method."""

    architecture = "SwinIR"
    card = SolverCard(
        name="swinir_car_gray", task="enhance", paper="Liang et al., SwinIR, ICCVW 2021", license="Apache-2.0",
        blind=False, channels=("gray",), weights=_swinir(False))

    def weight_for(self, ctx: Context | None) -> WeightFile:
        q = ctx.quality if ctx is not None and ctx.quality is not None else SWINIR_QF[0]
        best = min(range(len(SWINIR_QF)), key=lambda i: abs(SWINIR_QF[i] - q))
        return self.card.weights[best]


class SwinIRCARColor(SwinIRCARGray):
    card = SolverCard(
        name="swinir_car_color", task="enhance", paper="Liang et al., SwinIR, ICCVW 2021", license="Apache-2.0",
        blind=False, channels=("rgb",), weights=_swinir(True))
