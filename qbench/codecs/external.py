"""Codecs that run external programs (bpgenc/bpgdec, VTM, ...), never through a shell.

Commands are argument lists with placeholders ``{input}``, ``{output}``, ``{quality}`` (and
``{width}``, ``{height}``); each call runs in a fresh temporary folder. The source image is
written as PNG; the decoder must write an image file ending in ``decoded_format`` (``.png``)::

    codecs:
      - name: external
        params:
          encode: [bpgenc, -q, "{quality}", -o, "{output}", "{input}"]
          decode: [bpgdec, -o, "{output}", "{input}"]
          suffix: .bpg
          label_version: "bpg 0.9.8"
        qualities: [28, 32, 36, 40]

For ``target_bpp`` ladders, give the knob's ``search_range`` (``[0, 51]`` for bpgenc's QP) and,
for bpgenc, ``integer_quality: true`` and ``rate_increases: false`` (a larger QP, fewer bytes).
"""

from __future__ import annotations

import shutil
import string
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodecError, ConfigError
from ..images import as_hwc, read_image, write_png
from .base import Codec, Encoded


PLACEHOLDERS = {"input", "output", "quality", "width", "height"}


class ExternalCodec(Codec):
    """Any codec as a pair of command-line programs (argument lists, never a shell), run on temporary files."""

    name = "external"
    quality_range = (-1e9, 1e9)
    defaults: dict[str, Any] = {"encode": None, "decode": None, "suffix": ".bin", "timeout": 600,
                                "label_version": "", "decoded_format": ".png",
                                # rate control (target_bpp) over the program's quality knob:
                                "search_range": None, "integer_quality": False, "rate_increases": True}
    param_types = {"timeout": (int, float)}

    def validate_params(self) -> None:
        """``search_range`` is None or [low, high]; ``integer_quality`` sets how rate control searches."""
        rng = self.params["search_range"]
        if rng is not None and not (isinstance(rng, (list, tuple)) and len(rng) == 2
                                    and all(isinstance(v, (int, float)) for v in rng) and rng[0] < rng[1]):
            raise ConfigError("external: search_range must be [low, high] with low < high")
        # e.g. bpgenc -q is an integer QP where a larger value gives fewer bytes
        self.integer_quality = bool(self.params["integer_quality"])  # type: ignore[misc]
        for key in ("encode", "decode"):
            cmd = self.params[key]
            if not (isinstance(cmd, list) and cmd and all(isinstance(a, (str, int, float)) for a in cmd)):
                raise ConfigError(f"external: '{key}' must be a non-empty list of arguments (no shell string)")
            for arg in cmd:
                try:
                    names = {f for _, f, _, _ in string.Formatter().parse(str(arg)) if f is not None}
                except ValueError as exc:
                    raise ConfigError(f"external: bad placeholder in {arg!r}: {exc}") from None
                if names - PLACEHOLDERS:
                    raise ConfigError(f"external: unknown placeholder(s) {sorted(names - PLACEHOLDERS)} in "
                                      f"{arg!r}; use {sorted(PLACEHOLDERS)} (double braces for a literal brace)")

    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """None known: the program's version is its ``label_version`` (see :meth:`spec`)."""
        return {}

    def rate_increases_with_quality(self) -> bool:
        """As the suite's ``rate_increases`` says."""
        return bool(self.params["rate_increases"])

    def search_range(self) -> tuple[float, float]:
        """The suite's ``search_range`` (required for target bpp)."""
        if self.params["search_range"] is None:
            raise ConfigError("external: target_bpp needs params.search_range [low, high] of the quality knob")
        lo, hi = self.params["search_range"]
        return float(lo), float(hi)

    def spec(self) -> dict[str, Any]:
        """The base spec, with the program (``label_version`` or the encoder's name) as its version."""
        spec = super().spec()
        spec["versions"] = {"program": str(self.params["label_version"] or self.params["encode"][0])}
        return spec

    def _run(self, key: str, mapping: dict[str, str], cwd: Path) -> None:
        args = [str(a).format(**mapping) for a in self.params[key]]
        if shutil.which(args[0]) is None and not Path(args[0]).is_file():
            raise CodecError(f"external codec: program {args[0]!r} not found (install it or give its full path)")
        try:
            proc = subprocess.run(args, cwd=cwd, capture_output=True, timeout=float(self.params["timeout"]),
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise CodecError(f"external codec: {args[0]} timed out after {exc.timeout} s") from None
        except OSError as exc:
            raise CodecError(f"external codec: cannot run {args[0]!r}: {exc}") from exc
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise CodecError(f"external codec: {args[0]} exited {proc.returncode}: {' | '.join(tail)}")

    def encode(self, img: np.ndarray, quality: float) -> Encoded:
        """Write ``img`` as PNG, run the encoder program on it, and return the file it wrote."""
        img = as_hwc(img)
        with tempfile.TemporaryDirectory(prefix="qbench-ext-") as tmp:
            t = Path(tmp)
            src, out = t / "input.png", t / f"output{self.params['suffix']}"
            write_png(img, src)
            q = int(quality) if float(quality).is_integer() else quality
            self._run("encode", {"input": str(src), "output": str(out), "quality": str(q),
                                 "width": str(img.shape[1]), "height": str(img.shape[0])}, t)
            if not out.is_file():
                raise CodecError(f"external codec: encoder wrote no {out.name}")
            return Encoded(out.read_bytes(), {"channels": int(img.shape[2])})

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Run the decoder program on the bitstream and read the image it wrote."""
        with tempfile.TemporaryDirectory(prefix="qbench-ext-") as tmp:
            t = Path(tmp)
            src, out = t / f"input{self.params['suffix']}", t / f"decoded{self.params['decoded_format']}"
            src.write_bytes(data)
            self._run("decode", {"input": str(src), "output": str(out), "quality": "", "width": "",
                                 "height": ""}, t)
            if not out.is_file():
                raise CodecError(f"external codec: decoder wrote no {out.name}")
            img = read_image(out, "auto")
            if channels == 1 and img.shape[2] == 3:
                from ..images import rgb_to_gray_u8

                img = rgb_to_gray_u8(img)
            return img
