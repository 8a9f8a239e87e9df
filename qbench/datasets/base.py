"""Dataset contract: an ordered list of image records, each loadable under a channel policy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..images import ChannelPolicy, ImageSource, read_image


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
    """A named, ordered set of images.

    ``modcrop`` (every dataset takes it) crops each image to a multiple of it in height and width,
    keeping the top-left corner: MATLAB's ``modcrop``, as SR benchmarks prepare their HR images.
    The runner reads every original through :meth:`image_source`, so the channel policy and the crop
    reach each read (indexing, low-res step, metric reference, diagnostics).
    """

    name: str = ""

    def __init__(self, mode: ChannelPolicy = "auto", limit: int | None = None, modcrop: int = 1):
        from ..errors import ConfigError

        if isinstance(modcrop, bool) or not isinstance(modcrop, int) or modcrop < 1:
            raise ConfigError(f"dataset {self.name or type(self).__name__!r}: modcrop must be an integer >= 1")
        self.mode = mode
        self.limit = limit
        self.modcrop = modcrop

    @abstractmethod
    def _records(self) -> list[ImageRecord]:
        """All records in a stable order."""

    def records(self) -> list[ImageRecord]:
        """The dataset's images, in order (the first ``limit`` when a limit is set)."""
        recs = self._records()
        return recs[: self.limit] if self.limit else recs

    def image_source(self, record: ImageRecord) -> ImageSource:
        """How ``record`` is read: its file, this dataset's channel policy and crop."""
        return ImageSource(str(record.path), self.mode, self.modcrop)

    def load(self, record: ImageRecord) -> np.ndarray:
        """Read one image as ``(H, W, C)`` uint8, checking its pinned pixel hash (of the whole
        file, before the crop), if any."""
        from ..errors import ImageError
        from ..images import pixel_hash

        src = self.image_source(record)
        img = read_image(src.path, src.mode)  # type: ignore[arg-type]
        if record.expected_hash and self.mode == "auto":
            got = pixel_hash(img)
            if got != record.expected_hash:
                raise ImageError(f"{record.path}: pixel hash {got[:12]}… does not match the pinned "
                                 f"{record.expected_hash[:12]}… of {self.name}/{record.name}")
        return src.prepare(img)

    @property
    def source_folder(self) -> Path | None:
        """The folder the images are listed from (a results folder must not lie inside it), if any."""
        return None


def record_names(files: list[Path], root: Path) -> list[str]:
    """Image names of ``files`` (under ``root``): the relative path without its suffix, or with it
    where two files would otherwise share a name (``a.png`` and ``a.jpg`` are ``a.png`` and ``a.jpg``).

    Deterministic (a name depends only on the files listed) and unique within the listing.
    """
    full = [p.relative_to(root).as_posix() for p in files]
    names = [str(Path(f).with_suffix("")) for f in full]
    while True:
        seen: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            seen.setdefault(n, []).append(i)
        clashes = [i for idx in seen.values() if len(idx) > 1 for i in idx if names[i] != full[i]]
        if not clashes:
            return names
        for i in clashes:
            names[i] = full[i]


def check_unique(dataset: str, records: list[ImageRecord]) -> None:
    """Raise :class:`~qbench.errors.ConfigError` naming both files when two records share a name."""
    from ..errors import ConfigError

    first: dict[str, str] = {}
    for rec in records:
        if rec.name in first:
            raise ConfigError(f"dataset {dataset!r}: two images are both named {rec.name!r}: "
                              f"{first[rec.name]} and {rec.path}; rename one of them")
        first[rec.name] = rec.path


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files under ``folder`` in sorted order (hidden files skipped)."""
    from ..images import IMAGE_SUFFIXES

    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))
