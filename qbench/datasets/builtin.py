"""Built-in datasets: embedded scikit-image samples and pinned public test sets.

Pinned sets live at ``<data root>/<name>/`` where the data root is ``--data-root``, else
``$QBENCH_DATA``, else ``$QBENCH_CACHE/data`` (default ``~/.cache/qbench/data``). A suite may
also point one at any folder with ``params: {root: /path}``. Files are verified against the
pixel hashes pinned in ``qbench/datasets/manifests/`` when they are loaded, so a losslessly
re-encoded copy is still accepted and a different image is rejected.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import DataNotFoundError
from ..images import ChannelPolicy
from .base import Dataset, ImageRecord

SKIMAGE_SAMPLES = ("astronaut", "chelsea", "coffee", "camera", "brick", "grass", "gravel", "moon")


def cache_root() -> Path:
    """``$QBENCH_CACHE`` or ``~/.cache/qbench``."""
    return Path(os.environ.get("QBENCH_CACHE", Path.home() / ".cache" / "qbench")).expanduser()


def data_root(override: str | os.PathLike | None = None) -> Path:
    """Where pinned datasets are looked for: override, ``$QBENCH_DATA``, ``$QBENCH_CACHE/data``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("QBENCH_DATA")
    return Path(env).expanduser() if env else cache_root() / "data"


class SkimageSamples(Dataset):
    """The lossless sample photographs scikit-image ships (3 colour, 5 gray); no download."""

    name = "skimage-samples"

    def __init__(self, mode: ChannelPolicy = "auto", limit: int | None = None,
                 images: list[str] | None = None):
        super().__init__(mode, limit)
        unknown = sorted(set(images or ()) - set(SKIMAGE_SAMPLES))
        if unknown:
            raise DataNotFoundError(f"skimage-samples has no image(s) {unknown}; "
                                    f"choose from {list(SKIMAGE_SAMPLES)}")
        self.images = list(images) if images else list(SKIMAGE_SAMPLES)

    def _records(self) -> list[ImageRecord]:
        import skimage

        folder = Path(skimage.__file__).parent / "data"
        recs = []
        for name in self.images:
            path = folder / f"{name}.png"
            if not path.is_file():
                raise DataNotFoundError(f"scikit-image's sample {path} is missing; reinstall scikit-image")
            recs.append(ImageRecord(name, str(path)))
        return recs


@dataclass(frozen=True)
class Source:
    """Where a pinned dataset comes from."""

    homepage: str
    urls: tuple[str, ...] = ()          # direct file URLs (one per image) or one archive
    archive_subdir: str = ""            # folder inside the archive that holds the images
    note: str = ""


SOURCES: dict[str, Source] = {
    "kodak": Source("http://r0k.us/graphics/kodak/",
                    tuple(f"http://r0k.us/graphics/kodak/kodak/kodim{i:02d}.png" for i in range(1, 25))),
    "classic5": Source("https://github.com/cszn/DnCNN/tree/master/testsets",
                       note="the five 512x512 gray images baboon, barbara, boats, lena, peppers"),
    "live1_gray": Source("https://live.ece.utexas.edu/research/quality/subjective.htm",
                         note="the 29 LIVE1 reference images converted to gray (PNG)"),
    "live1_color": Source("https://live.ece.utexas.edu/research/quality/subjective.htm",
                          note="the 29 LIVE1 reference images (refimgs/*.bmp, or lossless PNG copies)"),
    "div2k_valid": Source("https://data.vision.ee.ethz.ch/cvl/DIV2K/",
                          ("http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",),
                          archive_subdir="DIV2K_valid_HR",
                          note="the 100 validation HR images 0801.png .. 0900.png"),
}


def load_manifest(name: str) -> dict[str, dict]:
    """Pinned ``file name -> {pixel_sha256, shape}`` for a built-in dataset ({} if unpinned)."""
    try:
        text = resources.files("qbench.datasets").joinpath("manifests", f"{name}.json").read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text)["files"]


DIV2K_VALID_FILES = tuple(f"{i:04d}.png" for i in range(801, 901))


class PinnedDataset(Dataset):
    """A public test set found on disk and verified against pinned pixel hashes."""

    def __init__(self, name: str, mode: ChannelPolicy = "auto", limit: int | None = None,
                 root: str | None = None, data_root_override: str | None = None):
        super().__init__(mode, limit)
        self.name = name
        self.source = SOURCES[name]
        self.manifest = load_manifest(name)
        self.expected_files = tuple(sorted(self.manifest)) or (DIV2K_VALID_FILES if name == "div2k_valid" else ())
        self.folder = Path(root).expanduser() if root else data_root(data_root_override) / name

    def missing(self) -> list[str]:
        return [f for f in self.expected_files if not self._find(f)]

    def _find(self, filename: str) -> Path | None:
        """The file, or a lossless re-encoding of it with another suffix (checked by pixel hash)."""
        direct = self.folder / filename
        if direct.is_file():
            return direct
        stem = Path(filename).stem
        for suffix in (".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"):
            alt = self.folder / f"{stem}{suffix}"
            if alt.is_file():
                return alt
        return None

    def where_message(self) -> str:
        missing = self.missing()
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
        how = (f"run 'qbench data fetch {self.name}'" if self.source.urls
               else f"obtain them from {self.source.homepage}")
        return (f"dataset {self.name!r}: {len(missing)} of {len(self.expected_files)} files missing "
                f"in {self.folder} ({shown}). Place {self.source.note or 'the images'} there, set "
                f"QBENCH_DATA or --data-root to a folder holding {self.name}/, or {how}.")

    def _records(self) -> list[ImageRecord]:
        missing = self.missing()
        if missing:
            raise DataNotFoundError(self.where_message())
        recs = []
        for f in self.expected_files:
            pin = self.manifest.get(f, {}).get("pixel_sha256")
            recs.append(ImageRecord(Path(f).stem, str(self._find(f)), pin))
        return recs


def pinned_factory(name: str):
    def make(mode: ChannelPolicy = "auto", limit: int | None = None, root: str | None = None,
             data_root: str | None = None) -> PinnedDataset:
        return PinnedDataset(name, mode, limit, root, data_root)
    make.__name__ = f"dataset_{name}"
    make.__doc__ = f"Built-in dataset {name!r} ({SOURCES[name].note or SOURCES[name].homepage})."
    return make


kodak = pinned_factory("kodak")
classic5 = pinned_factory("classic5")
live1_gray = pinned_factory("live1_gray")
live1_color = pinned_factory("live1_color")
div2k_valid = pinned_factory("div2k_valid")
