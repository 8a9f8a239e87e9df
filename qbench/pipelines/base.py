"""The pipeline contract: ``pre -> code -> post`` over named image roles.

Every task is one pipeline shape. An image ``x`` (role ``original``) may be turned into a
``lowres`` image by a ``pre`` step (a rescaler's downscale), is coded by a codec (a library codec
in a worker process, or a learned codec on the device) into a bitstream whose decoded image has
role ``compressed``, and a ``post`` step (an enhancer, a rescaler's upscale) gives ``enhanced``.
A pass-through post step (the ``identity`` solver) produces nothing new: its output *is* the
compressed artefact, so nothing is stored or measured twice.

A pipeline decides the cache keys of its artefacts (what determines each result), which steps
run, and how its solver is probed for the cost table. The runner knows only this contract.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from ..images import ImageSource
from ..vocabulary import COMPRESSED, ENHANCED


def content_key(*parts: Any) -> str:
    """A 24-hex key: sha256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ImageRef:
    """An indexed image: how it is read (its dataset's :class:`~qbench.images.ImageSource`, the
    only way to read it) and what its pixels hash to."""

    dataset: str
    name: str
    source: ImageSource
    pixel_hash: str
    shape: tuple[int, int, int]
    expected_hash: str | None = None

    @property
    def path(self) -> str:
        """The file (for messages; read the image with ``source.read()``)."""
        return self.source.path

    @property
    def mode(self) -> str:
        """The channel policy the image is read with."""
        return self.source.mode


@dataclass(frozen=True)
class Keys:
    """The artefact keys of one sample. The sample's measured image is ``(out_key, out_role)``."""

    pre_key: str | None      # low-res image (role lowres), None when there is no pre step
    enc_key: str             # bitstream and its decoded image (role compressed)
    out_key: str
    out_role: str


class Pipeline(ABC):
    """One sample shape. Instances bind a solver and a codec; they hold no per-image state."""

    kind: ClassVar[str] = ""

    def __init__(self, solver, codec):
        self.solver = solver
        self.codec = codec

    @classmethod
    @abstractmethod
    def accepts(cls, solver, codec) -> bool:
        """Whether this pipeline runs ``solver`` with ``codec``."""

    # -- keys -------------------------------------------------------------------------------
    @property
    def passthrough(self) -> bool:
        """The post step returns its input unchanged (the output is the compressed artefact)."""
        return bool(getattr(self.solver, "passthrough", False))

    @property
    def has_pre(self) -> bool:
        """Whether the pipeline has a ``pre`` step (a rescaler's downscale)."""
        return False

    def pre_key(self, image: ImageRef) -> str | None:
        """The key of the ``pre`` output of ``image`` (None without a ``pre`` step)."""
        return None

    def keys(self, image: ImageRef, point: float, target: bool, quantize: bool) -> Keys:
        """The cache keys of one sample: ``image`` coded at ``point`` (a target bpp when ``target``)."""
        pre = self.pre_key(image)
        setting = {"target_bpp": point} if target else point
        enc = content_key("enc", pre or image.pixel_hash, self.codec.spec(), setting)
        if self.passthrough:
            return Keys(pre, enc, enc, COMPRESSED)
        return Keys(pre, enc, content_key("out", enc, self.solver.spec(), quantize), ENHANCED)

    @property
    def batch_size(self) -> int:
        """Images per solver call: the suite's ``engine.batch_size``, else a ``batch_size``
        parameter of the solver (1 when it has neither)."""
        if self.solver.engine.batch_size > 1:
            return self.solver.engine.batch_size
        return max(1, int(self.solver.params.get("batch_size", 1) or 1))

    def compressed_comparable(self) -> bool:
        """Whether the compressed image has the original's size (so it is measured too)."""
        return not self.has_pre

    # -- steps (device) -----------------------------------------------------------------------
    def pre(self, batch, ctx):
        """original -> the image the codec codes (``None``: code the original)."""
        return None

    @abstractmethod
    def post(self, batch, ctx):
        """decoded batch -> output batch of the original's size."""

    def cost_probe(self, ctx) -> Callable | None:
        """A function of one probe batch that runs the solver's device steps (for the cost
        table), or None when the solver has no device steps worth timing."""
        if self.passthrough:
            return None

        def fn(x):
            low = self.pre(x, ctx)
            return self.post(x if low is None else low, ctx)
        return fn
