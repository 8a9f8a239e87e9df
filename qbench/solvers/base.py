"""The solver contract: Enhancer, Rescaler and LearnedCodec, each described by a SolverCard.

Images cross this boundary as float tensors ``(N, C, H, W)`` in [0, 1] on the solver's device.
Solvers return float tensors; the runner clamps, rounds to uint8 (unless the suite says
otherwise) and measures.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import SolverError
from .engine import EngineOptions

Task = Literal["enhance", "rescale", "codec"]


@dataclass(frozen=True)
class SolverCard:
    """What a leaderboard and a user need to know about a method."""

    name: str
    task: Task
    paper: str = ""
    license: str = ""
    weights: tuple[Any, ...] = ()        # qbench.weights.WeightFile entries
    blind: bool = True                   # False: per-quality weights or needs the codec setting
    channels: tuple[str, ...] = ("gray", "rgb")
    scale: int = 1                       # rescalers: downscale factor
    description: str = ""


class SolverReports:
    """What a solver reported through :meth:`Context.report` during one call, per image."""

    def __init__(self) -> None:
        self._calls: list[tuple[int | None, dict[str, Any]]] = []

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, image: int | None, fields: dict[str, Any]) -> None:
        """Record ``fields`` for image ``image`` of the batch (None: every image)."""
        self._calls.append((image, fields))

    def per_image(self, n: int) -> list[dict[str, Any]]:
        """One dict per image of an ``n``-image batch (later reports of a key win); raises
        :class:`SolverError` on a sequence whose length is not ``n`` or an image index out of range."""
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        for image, fields in self._calls:
            if image is not None and not 0 <= image < n:
                raise SolverError(f"ctx.report(image={image}) in a batch of {n} image(s)")
            for key, value in fields.items():
                if isinstance(value, list):
                    if image is not None or len(value) != n:
                        raise SolverError(f"ctx.report({key}=...) got {len(value)} values for a batch of "
                                          f"{n} image(s)" + (" (with image=)" if image is not None else ""))
                    for i in range(n):
                        out[i][key] = value[i]
                else:
                    for i in ([image] if image is not None else range(n)):
                        out[i][key] = value
        return out


def _report_value(key: str, value: Any) -> Any:
    """A JSON scalar, or a list of them for a per-image sequence (tuples, 1-D arrays, tensors)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()                  # numpy/torch scalars and 1-D arrays
    if isinstance(value, tuple):
        value = list(value)
    for v in value if isinstance(value, list) else [value]:
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise SolverError(f"ctx.report({key}=...): {type(v).__name__} is not a number, string or bool "
                              "(give one scalar, or one per image)")
    return value


@dataclass(frozen=True)
class Context:
    """What a solver may know about the images it gets (never the pristine image), and where it
    reports what it did per image (:meth:`report`)."""

    codec: str = ""
    quality: float | None = None
    bpp: tuple[float, ...] = ()
    qtables: tuple[tuple[tuple[int, ...], ...], ...] = ()   # per image: the decoder's JPEG tables
    image_names: tuple[str, ...] = ()
    original_size: tuple[int, int] | None = None            # (H, W) of the pristine image
    device: str = "cpu"
    reports: SolverReports = field(default_factory=SolverReports, compare=False, repr=False)

    def report(self, image: int | None = None, **fields: Any) -> None:
        """Report per-image facts of this call, e.g. which exit ran and what it cost.

        Each value is either one per image of the batch (a list, tuple, 1-D array or tensor of
        length N) or a scalar for every image (or, with ``image=i``, for image ``i`` only)::

            ctx.report(exit=exits.tolist(), flops=flops_per_image)   # batched
            ctx.report(image=i, branch="shallow")                    # one image

        Keys with a meaning the report knows: ``exit`` (int), ``branch`` (str), ``flops`` and
        ``seconds`` (per image); any other identifier is stored too. The runner keeps the
        reports with each output (the artefact's ``info["report"]``); the report's "Branches
        and cost per image class" section groups images by ``branch``, else ``exit``.
        """
        clean = {}
        for key, value in fields.items():
            if not key.isidentifier():
                raise SolverError(f"ctx.report: {key!r} is not an identifier")
            clean[key] = _report_value(key, value)
        self.reports.add(None if image is None else int(image), clean)


class Solver(ABC):
    """Base of every solver. ``params`` are validated against ``defaults`` at construction."""

    card: ClassVar[SolverCard]
    defaults: ClassVar[dict[str, Any]] = {}
    #: types of parameters whose default (None) does not say it, e.g. ``{"qf": (int, type(None))}``
    param_types: ClassVar[dict[str, Any]] = {}
    #: a manual override in cache keys: bump it to recompute outputs when something the code
    #: identity does not see changed (a data file the solver reads, a library it calls). Edits to
    #: the solver's own source already change its keys (:func:`qbench.codeid.code_identity`).
    version: ClassVar[str] = "1"
    #: the post step returns its input unchanged (``identity``): the pipeline then reuses the
    #: compressed image as the output instead of storing and measuring a copy
    passthrough: ClassVar[bool] = False

    def __init__(self, **params: Any):
        from ..params import check_params

        self.params = check_params(f"solver {self.card.name!r}", self.defaults, params, self.param_types)
        self.device = "cpu"
        self.engine = EngineOptions()

    def configure_engine(self, options: "EngineOptions | dict[str, Any] | None") -> None:
        """Set how the engine runs this solver (batching, tiling, AMP), e.g. from a suite."""
        self.engine = options if isinstance(options, EngineOptions) else EngineOptions.from_mapping(options)

    def setup(self, device: str = "cpu") -> None:
        """Load weights and move to ``device``; called once before the first batch."""
        self.device = device

    def modules(self) -> list:
        """The torch modules this solver runs (for parameter counts); empty for classical ones."""
        return []

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """Versions of the libraries whose arithmetic determines the outputs (OpenCV for a filter,
        torch for a network; part of cache keys, as a codec's). None by default."""
        return {}

    def needed_weights(self, qualities=None) -> list:
        """The weight files a run reads (at ``qualities``, for a learned codec with one file per
        quality): every file of the card unless a solver says otherwise."""
        return list(self.card.weights)

    def weights_sha256(self) -> list[str]:
        """An identity for every weight file of the card (part of cache keys): its sha256 pin, else
        the observed sha256 of the local file (read once per instance), else ``absent:<file>``."""
        from ..weights import local_path, sha256_file

        observed = self.__dict__.setdefault("_observed_sha256", {})
        out = []
        for wf in self.card.weights:
            if getattr(wf, "sha256", None):
                out.append(wf.sha256)
                continue
            path = local_path(wf)
            if wf.filename not in observed and path.is_file():
                observed[wf.filename] = sha256_file(path)
            out.append(observed.get(wf.filename, f"absent:{wf.filename}"))
        return out

    def spec(self) -> dict[str, Any]:
        """What determines this solver's outputs: class, code identity (source hash and, for an
        installed plugin, its distribution's version), ``version``, parameters, weights, the
        versions of the libraries it computes with, engine."""
        from ..codeid import code_identity

        spec = {"name": self.card.name, "task": self.card.task, "version": self.version,
                "class": f"{type(self).__module__}:{type(self).__qualname__}", **code_identity(self),
                "params": json.loads(json.dumps(self.params, sort_keys=True, default=str)),
                "weights": self.weights_sha256()}
        if versions := self.library_versions():
            spec["versions"] = versions
        if self.engine.output_spec():      # tiling and AMP can change outputs
            spec["engine"] = self.engine.output_spec()
        return spec

    def spec_hash(self) -> str:
        """A short hash of :meth:`spec` (part of output keys)."""
        blob = json.dumps(self.spec(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def torch_versions() -> dict[str, str]:
    """``{"torch": version}``: the :meth:`Solver.library_versions` of a solver that runs a network."""
    import torch

    return {"torch": torch.__version__}


class Enhancer(Solver):
    """compressed -> restored, same size."""

    @abstractmethod
    def enhance(self, batch, ctx: Context):
        """Restore a batch ``(N, C, H, W)`` in [0, 1]; return the same shape."""


class Rescaler(Solver):
    """x -> downscale -> codec -> upscale -> x_hat (IRN/SAIN style)."""

    @abstractmethod
    def downscale(self, batch, ctx: Context):
        """High-resolution batch -> low-resolution batch (to be compressed)."""

    @abstractmethod
    def upscale(self, batch, ctx: Context):
        """Decoded low-resolution batch -> batch of ``ctx.original_size``."""


class LearnedCodec(Solver):
    """x -> bytes -> x_hat, replacing the codec stage. One image per call."""

    #: default quality ladder when the suite gives none
    qualities: ClassVar[tuple[float, ...]] = ()

    @abstractmethod
    def encode(self, image, quality: float) -> bytes:
        """Compress one image ``(1, C, H, W)`` in [0, 1] at a quality level to real bytes."""

    @abstractmethod
    def decode(self, data: bytes, quality: float):
        """Decompress to ``(1, C, H, W)`` in [0, 1]."""
