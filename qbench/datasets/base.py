"""Dataset contract: an ordered list of image records, each loadable under a channel policy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..images import ChannelPolicy, read_image


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset: a stable name and the file it is read from.

    ``expected_hash`` is the pinned pixel hash when the dataset pins one; loading an image whose
    pixels do not match raises :class:`~qbench.errors.ImageError`.
    """

    name: str
    path: str
    expected_hash: str | None = None


class Dataset(ABC):
    """A named, ordered set of images."""

    name: str = ""

    def __init__(self, mode: ChannelPolicy = "auto", limit: int | None = None):
        self.mode = mode
        self.limit = limit

    @abstractmethod
    def _records(self) -> list[ImageRecord]:
        """All records in a stable order."""

    def records(self) -> list[ImageRecord]:
        recs = self._records()
        return recs[: self.limit] if self.limit else recs

    def load(self, record: ImageRecord) -> np.ndarray:
        """Read one image as ``(H, W, C)`` uint8 and check its pinned pixel hash, if any."""
        from ..errors import ImageError
        from ..images import pixel_hash

        img = read_image(record.path, self.mode)
        if record.expected_hash and self.mode == "auto":
            got = pixel_hash(img)
            if got != record.expected_hash:
                raise ImageError(f"{record.path}: pixel hash {got[:12]}… does not match the pinned "
                                 f"{record.expected_hash[:12]}… of {self.name}/{record.name}")
        return img

    def describe(self) -> str:
        return f"{self.name} ({len(self.records())} images, mode={self.mode})"


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files under ``folder`` in sorted order (hidden files skipped)."""
    from ..images import IMAGE_SUFFIXES

    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))
