"""The diagnostic pipeline: a pass over the image roles a run produced.

It computes nothing on the device of its own; it names, for each sample, which stored image
stands for a role (``original`` is the dataset file, ``compressed`` the decoded bitstream,
``enhanced`` the solver output, which for a pass-through solver *is* the compressed image,
``lowres`` a rescaler's low-res image) and groups samples into image sets, so set-level metrics
(FID/KID) can be measured between any two roles: ``(original, enhanced)`` for the leaderboard,
plus the suite's ``diagnostics.set_pairs`` (e.g. the FID triangle between O, C and E).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..vocabulary import COMPRESSED, ENHANCED, LEADERBOARD_PAIR, LOWRES, ORIGINAL


def role_key(sample, role: str) -> tuple[str, str] | None:
    """The stored identity (key, physical role) of ``sample``'s image of ``role``."""
    if role == ORIGINAL:
        return sample.image.pixel_hash, ORIGINAL
    if role == COMPRESSED:
        return sample.enc_key, COMPRESSED
    if role == ENHANCED:
        return sample.out_key, sample.out_role
    if role == LOWRES:
        return (sample.keys.pre_key, LOWRES) if sample.keys.pre_key else None
    raise ValueError(f"unknown role {role!r}")


def set_pairs(extra: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The role pairs measured: the leaderboard pair first, then the suite's extras."""
    pairs = [LEADERBOARD_PAIR]
    for a, b in extra:
        if (a, b) not in pairs:
            pairs.append((a, b))
    return pairs


def groups(samples: Iterable) -> dict[tuple, list]:
    """Image sets: samples by (dataset, solver, codec, setting)."""
    out: dict[tuple, list] = defaultdict(list)
    for s in samples:
        out[(s.image.dataset, s.solver, s.codec, s.quality)].append(s)
    return out


class RoleImages:
    """Loads the image of a role: files for originals, low-res images and outputs; the cached
    decoded image or the codec's decoder for compressed images."""

    def __init__(self, encodings: dict, artefacts: dict[tuple[str, str], str], codecs: dict[str, object]):
        self.encodings = encodings          # enc_key -> EncodingRow
        self.artefacts = artefacts          # (key, role) -> path
        self.codecs = codecs                # codec label -> Codec

    def available(self, sample, role: str) -> bool:
        """Whether ``sample``'s image of ``role`` exists and its cache file is usable."""
        ident = role_key(sample, role)
        if ident is None:
            return False
        if ident[1] == ORIGINAL:
            return True
        if ident[1] == COMPRESSED:
            enc = self.encodings.get(ident[0])
            return enc is not None and bool(enc.bytes_path) and Path(enc.bytes_path).is_file()
        path = self.artefacts.get(ident)
        return bool(path) and Path(path).is_file()

    def load(self, sample, role: str) -> np.ndarray:
        """``sample``'s image of ``role``, read from the dataset or the cache."""
        from ..images import read_image

        key, phys = role_key(sample, role)
        if phys == ORIGINAL:
            return sample.image.source.read()
        if phys == COMPRESSED:
            enc = self.encodings[key]
            if enc.decoded_path and Path(enc.decoded_path).is_file():
                return read_image(enc.decoded_path, "auto")
            shape = sample.image.shape
            return self.codecs[sample.codec].decode(Path(enc.bytes_path).read_bytes(), channels=shape[2])
        path = Path(self.artefacts[(key, phys)])
        if path.suffix == ".npy":
            return np.clip(np.round(np.load(path)), 0, 255).astype(np.uint8)
        return read_image(path, "auto")

    def loader(self, members: list, role: str) -> Callable[[], Iterable[np.ndarray]]:
        """A callable that yields the ``role`` images of ``members``, read lazily."""
        return lambda: (self.load(s, role) for s in members)
