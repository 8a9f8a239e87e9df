"""Downloading pinned datasets: archives checked against their pins, extraction that cannot escape
(the download itself is :func:`qbench.download.download`).

Nothing here runs unless asked (``qbench data fetch NAME``). Offline, the error says which files
to place where.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
from pathlib import Path, PurePosixPath

from ..download import _NoDowngrade, download  # noqa: F401  (re-exported)
from ..errors import DataNotFoundError, QbenchError
from ..folders import missing_folders, remove_empty
from .base import list_images
from .builtin import SOURCES, PinnedDataset, Source


class UnsafeArchiveError(QbenchError):
    """An archive member would be written outside the extraction folder."""

    exit_code = 3


def _safe_target(root: Path, member: str) -> Path:
    rel = PurePosixPath(member.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0]):
        raise UnsafeArchiveError(f"archive member {member!r} escapes the extraction folder")
    target = (root / Path(*rel.parts)).resolve()
    if root.resolve() not in (target, *target.parents):
        raise UnsafeArchiveError(f"archive member {member!r} escapes the extraction folder")
    return target


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a zip or tar archive into ``dest``; refuse absolute paths, ``..`` and links."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            targets = [(_safe_target(dest, i.filename), i) for i in infos]  # check all first
            for _, info in targets:
                kind = (info.external_attr >> 16) & 0o170000
                if kind not in (0, 0o100000, 0o040000):     # unset (DOS), regular file, folder
                    raise UnsafeArchiveError(f"archive member {info.filename!r} is not a regular file or folder "
                                             "(a symbolic link or device)")
            for target, info in targets:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _safe_target(dest, m.name)
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(f"archive member {m.name!r} is not a regular file or folder")
            for m in members:
                target = _safe_target(dest, m.name)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                assert src is not None
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(target)
    else:
        raise DataNotFoundError(f"{archive} is neither a zip nor a tar archive")
    return written


class ChecksumError(QbenchError):
    """A downloaded archive does not match its pinned checksum."""

    exit_code = 3


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file (``sha256`` or ``md5``), read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_archive(path: Path, source: Source) -> str:
    """Check ``path`` against the source's pinned checksum (sha256, else md5); returns what was
    checked ("sha256", "md5" or "none"). A mismatch deletes nothing and raises :class:`ChecksumError`."""
    for algorithm, expected in (("sha256", source.archive_sha256), ("md5", source.archive_md5)):
        if expected:
            got = file_digest(path, algorithm)
            if got != expected.lower():
                raise ChecksumError(f"{path.name}: {algorithm} {got} does not match the pinned {expected}"
                                    f" ({source.urls[0]}); the download is corrupt or the file changed")
            return algorithm
    return "none"


def _shared_archive(url: str) -> bool:
    return sum(url in s.urls for s in SOURCES.values()) > 1


def _archive(ds: PinnedDataset, tmp: Path, progress: bool) -> Path:
    """The dataset's archive, downloaded and checked. An archive that several built-ins share is
    kept in ``<data root>/.archives/`` and reused (after a fresh checksum) by the next fetch."""
    url = ds.source.urls[0]
    name = Path(urllib.parse.urlparse(url).path).name
    if _shared_archive(url):
        kept = ds.folder.parent / ".archives" / name
        if kept.is_file():
            try:
                check_archive(kept, ds.source)
                return kept
            except ChecksumError:
                kept.unlink()
        archive = download(url, kept, progress)
    else:
        archive = download(url, tmp / name, progress)
    try:
        check_archive(archive, ds.source)
    except ChecksumError:
        archive.unlink(missing_ok=True)
        raise
    return archive


def fetch_dataset(ds: PinnedDataset, progress: bool = True) -> list[str]:
    """Download whatever of ``ds`` is missing into its folder; returns what is still missing.

    An archive is checked against its pinned checksum (when one is published), extracted with
    :func:`safe_extract` into a temporary folder and the images of its ``archive_subdir`` moved in;
    the caller then loads every image, which checks pinned pixel hashes where a manifest exists.
    """
    missing = ds.missing()
    if not missing:
        return []
    src = ds.source
    if not src.urls:
        raise DataNotFoundError(ds.where_message())
    archives = ds.folder.parent / ".archives"
    created = missing_folders(archives) + missing_folders(ds.folder)
    try:
        ds.folder.mkdir(parents=True, exist_ok=True)
        _fetch_missing(ds, missing, progress)
    finally:            # a fetch that failed (or found nothing) leaves no empty folder behind
        remove_empty(created)
    return ds.missing()


def _fetch_missing(ds: PinnedDataset, missing: list[str], progress: bool) -> None:
    src = ds.source
    if len(src.urls) == 1 and src.urls[0].endswith((".zip", ".tar", ".tar.gz", ".tgz")):
        with tempfile.TemporaryDirectory(dir=ds.folder.parent) as tmp:
            archive = _archive(ds, Path(tmp), progress)
            safe_extract(archive, Path(tmp) / "x")
            inner = Path(tmp) / "x" / src.archive_subdir
            if not inner.is_dir():
                raise DataNotFoundError(f"{src.urls[0]} has no folder {src.archive_subdir!r}")
            if ds.expected_files:
                for f in missing:
                    if (inner / f).is_file():
                        os.replace(inner / f, ds.folder / f)
            else:
                for p in list_images(inner):
                    if not (ds.folder / p.name).exists():
                        os.replace(p, ds.folder / p.name)
    else:
        by_name = {Path(u).name: u for u in src.urls}
        for f in missing:
            if f in by_name:
                download(by_name[f], ds.folder / f, progress)
