"""Built-in datasets: embedded scikit-image samples and pinned public test sets.

Pinned sets live at ``<data root>/<name>/`` where the data root is ``--data-root``, else
``$QBENCH_DATA``, else ``$QBENCH_CACHE/data`` (default ``~/.cache/qbench/data``). A suite may
also point one at any folder with ``params: {root: /path}``. Files are verified against the
pixel hashes pinned in ``qbench/datasets/manifests/`` when they are loaded, so a losslessly
re-encoded copy is still accepted and a different image is rejected. A set without a pinned
manifest (data never available to pin it) is known by its file names or its image count, and
``qbench data verify`` says that it is unverified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import DataNotFoundError
from ..paths import data_root
from ..images import ChannelPolicy
from .base import Dataset, ImageRecord, list_images, record_names

SKIMAGE_SAMPLES = ("astronaut", "chelsea", "coffee", "camera", "brick", "grass", "gravel", "moon")


class SkimageSamples(Dataset):
    """The lossless sample photographs scikit-image ships (3 colour, 5 gray); no download."""

    name = "skimage-samples"

    def __init__(self, mode: ChannelPolicy = "auto", limit: int | None = None,
                 images: list[str] | None = None, modcrop: int = 1):
        super().__init__(mode, limit, modcrop)
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
    """Where a pinned dataset comes from and how a download of it is checked.

    ``files`` names the images when no manifest is pinned but the names are certain; otherwise
    ``count`` images in the folder make the set. Archive checksums are recorded only when they are
    published (``checksum_from`` says where); without one, fetched files can only be checked
    against a pixel-hash manifest, and without that either they are reported as unverified.
    """

    homepage: str
    urls: tuple[str, ...] = ()          # direct file URLs (one per image) or one archive
    archive_subdir: str = ""            # folder inside the archive that holds the images
    note: str = ""
    files: tuple[str, ...] = ()         # image names, when known without a manifest
    count: int = 0                      # number of images, when the names are not pinned
    archive_sha256: str | None = None
    archive_md5: str | None = None
    checksum_from: str = ""             # public source of the archive checksum

    def integrity(self, manifest_pinned: bool) -> str:
        """One line saying what a fetch of this dataset verifies."""
        if self.archive_sha256:
            arc = "archive sha256 pinned"
        elif self.archive_md5:
            arc = f"archive md5 pinned (published by {self.checksum_from})"
        else:
            arc = "archive checksum unknown (none published)"
        pix = "per-image pixel hashes pinned" if manifest_pinned else "no pixel-hash manifest pinned"
        return f"{arc}; {pix}"


#: EDSR's benchmark archive (Set5, Set14, B100, Urban100 HR and bicubic LR), as used by EDSR-PyTorch
#: and torchSR; md5 as published by torchSR (torchsr/datasets/benchmarks.py).
SR_BENCHMARK_TAR = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
SR_BENCHMARK_MD5 = "4ace41d33c2384b97e6b320cd0afd6ba"


def _sr_benchmark(folder: str, homepage: str, note: str, files: tuple[str, ...] = (), count: int = 0) -> Source:
    return Source(homepage, (SR_BENCHMARK_TAR,), archive_subdir=f"benchmark/{folder}/HR", note=note,
                  files=files, count=count, archive_md5=SR_BENCHMARK_MD5, checksum_from="torchSR")


SOURCES: dict[str, Source] = {
    "kodak": Source("https://r0k.us/graphics/kodak/",
                    tuple(f"https://r0k.us/graphics/kodak/kodak/kodim{i:02d}.png" for i in range(1, 25))),
    "classic5": Source("https://github.com/cszn/DnCNN/tree/master/testsets",
                       note="the five 512x512 gray images baboon, barbara, boats, lena, peppers"),
    "live1_gray": Source("https://live.ece.utexas.edu/research/quality/subjective.htm",
                         note="the 29 LIVE1 reference images converted to gray (PNG)"),
    "live1_color": Source("https://live.ece.utexas.edu/research/quality/subjective.htm",
                          note="the 29 LIVE1 reference images (refimgs/*.bmp, or lossless PNG copies)"),
    "div2k_valid": Source("https://data.vision.ee.ethz.ch/cvl/DIV2K/",
                          ("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",),
                          archive_subdir="DIV2K_valid_HR",
                          note="the 100 validation HR images 0801.png .. 0900.png",
                          files=tuple(f"{i:04d}.png" for i in range(801, 901)),
                          archive_md5="9fcdda83005c5e5997799b69f955ff88", checksum_from="torchSR"),
    "set5": _sr_benchmark("Set5", "https://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html",
                          "the 5 Set5 HR images baby, bird, butterfly, head, woman (PNG)",
                          files=tuple(f"{n}.png" for n in ("baby", "bird", "butterfly", "head", "woman"))),
    "set14": _sr_benchmark("Set14", "https://sites.google.com/site/romanzeyde/research-interests",
                           "the 14 Set14 HR images (PNG)", count=14),
    "bsd100": _sr_benchmark("B100", "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/",
                            "the 100 BSD100 (B100) HR images, the BSDS300 test split (PNG)", count=100),
    "urban100": _sr_benchmark("Urban100", "https://github.com/jbhuang0604/SelfExSR",
                              "the 100 Urban100 HR images (PNG)", count=100),
    "clic_professional_valid": Source(
        "https://clic.compression.cc/", ("https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip",),
        archive_subdir="valid", note="the 41 CLIC 2020 professional validation images (PNG)", count=41,
        archive_md5="7111ee240435911db04dbc5f40d50272", checksum_from="public CLIC 2020 loader code"),
}


def load_manifest(name: str) -> dict[str, dict]:
    """Pinned ``file name -> {pixel_sha256, shape}`` for a built-in dataset ({} if unpinned)."""
    try:
        text = resources.files("qbench.datasets").joinpath("manifests", f"{name}.json").read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text)["files"]


class PinnedDataset(Dataset):
    """A public test set found on disk, verified against pinned pixel hashes when a manifest is
    pinned (``manifest_pinned``), else only by its file names or image count. The pixel hash
    is checked on the whole file, before ``modcrop``.
    """

    def __init__(self, name: str, mode: ChannelPolicy = "auto", limit: int | None = None,
                 root: str | None = None, data_root_override: str | None = None, modcrop: int = 1):
        self.name = name
        super().__init__(mode, limit, modcrop)
        if name not in SOURCES:
            from ..errors import RegistryError
            raise RegistryError(f"{name!r} is not a pinned built-in dataset; choose from {sorted(SOURCES)}")
        self.name = name
        self.source = SOURCES[name]
        self.manifest = load_manifest(name)
        self.expected_files = tuple(sorted(self.manifest)) or self.source.files
        self.folder = Path(root).expanduser() if root else data_root(data_root_override) / name

    @property
    def source_folder(self) -> Path:
        """The set's folder under the data root (or its ``root``)."""
        return self.folder

    @property
    def manifest_pinned(self) -> bool:
        """Whether pixel hashes are pinned for this set (else it is known by file names or count)."""
        return bool(self.manifest)

    @property
    def expected_count(self) -> int:
        """How many images the set has: its pinned file names, else its published count."""
        return len(self.expected_files) or self.source.count

    def missing(self) -> list[str]:
        """Expected files not found; for a set known by its image count, a one-item description."""
        if self.expected_files:
            return [f for f in self.expected_files if not self._find(f)]
        have = len(list_images(self.folder)) if self.folder.is_dir() else 0
        return [] if have == self.source.count else [f"{have} of {self.source.count} images present"]

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
        """What is missing and how to get it (``qbench data fetch`` or the homepage), and where to place it."""
        missing = self.missing()
        how = (f"run 'qbench data fetch {self.name}'" if self.source.urls
               else f"obtain them from {self.source.homepage}")
        if self.expected_files:
            shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
            what = f"{len(missing)} of {len(self.expected_files)} files missing in {self.folder} ({shown})"
        else:
            what = f"{self.folder} must hold exactly {self.source.count} images ({missing[0] if missing else ''})"
        return (f"dataset {self.name!r}: {what}. Place {self.source.note or 'the images'} there, set "
                f"QBENCH_DATA or --data-root to a folder holding {self.name}/, or {how}.")

    def _records(self) -> list[ImageRecord]:
        missing = self.missing()
        if missing:
            raise DataNotFoundError(self.where_message())
        if not self.expected_files:
            files = list_images(self.folder)
            return [ImageRecord(n, str(p)) for n, p in zip(record_names(files, self.folder), files)]
        recs = []
        for f in self.expected_files:
            pin = self.manifest.get(f, {}).get("pixel_sha256")
            recs.append(ImageRecord(Path(f).stem, str(self._find(f)), pin))
        return recs


def make_manifest(ds: Dataset) -> dict[str, dict]:
    """``{"files": {file name: {pixel_sha256, shape}}}`` of the images of ``ds`` as found on disk
    (full images, channel policy ``auto``): what a pinned manifest holds."""
    from ..images import pixel_hash, read_image

    files = {}
    for rec in ds.records():
        img = read_image(rec.path, "auto")
        files[Path(rec.path).name] = {"pixel_sha256": pixel_hash(img), "shape": list(img.shape)}
    return {"files": files}


def pinned_factory(name: str):
    """The registry factory of built-in dataset ``name``."""
    def make(mode: ChannelPolicy = "auto", limit: int | None = None, root: str | None = None,
             data_root: str | None = None, modcrop: int = 1) -> PinnedDataset:
        return PinnedDataset(name, mode, limit, root, data_root, modcrop)
    make.__name__ = f"dataset_{name}"
    make.__doc__ = f"Built-in dataset {name!r} ({SOURCES[name].note or SOURCES[name].homepage})."
    return make


kodak = pinned_factory("kodak")
classic5 = pinned_factory("classic5")
live1_gray = pinned_factory("live1_gray")
live1_color = pinned_factory("live1_color")
div2k_valid = pinned_factory("div2k_valid")
set5 = pinned_factory("set5")
set14 = pinned_factory("set14")
bsd100 = pinned_factory("bsd100")
urban100 = pinned_factory("urban100")
clic_professional_valid = pinned_factory("clic_professional_valid")
