"""A dataset made of the image files in a local folder."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataNotFoundError
from ..images import ChannelPolicy
from .base import Dataset, ImageRecord, list_images, record_names


class FolderDataset(Dataset):
    """Every PNG/BMP/JPEG/TIFF/WebP/PPM/PGM file in ``path`` (sorted by relative path).

    An image is named by its relative path without the suffix, or with it where two files share
    that name (see :func:`~qbench.datasets.base.record_names`).
    """

    name = "folder"

    def __init__(self, path: str, mode: ChannelPolicy = "auto", limit: int | None = None,
                 recursive: bool = False, modcrop: int = 1):
        super().__init__(mode, limit, modcrop)
        self.path = Path(path).expanduser()
        self.recursive = recursive
        if not self.path.is_dir():
            raise DataNotFoundError(f"dataset folder {str(self.path)!r} does not exist")

    @property
    def source_folder(self) -> Path:
        """The dataset's folder."""
        return self.path

    def _records(self) -> list[ImageRecord]:
        files = list_images(self.path, self.recursive)
        if not files:
            raise DataNotFoundError(f"dataset folder {str(self.path)!r} holds no image files")
        return [ImageRecord(name, str(p)) for name, p in zip(record_names(files, self.path), files)]
