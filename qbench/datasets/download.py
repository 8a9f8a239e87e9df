"""Downloading pinned datasets: progress bar, atomic writes, extraction that cannot escape.

Nothing here runs unless asked (``qbench data fetch NAME``). Offline, the error says which files
to place where.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import DataNotFoundError, QbenchError
from .builtin import PinnedDataset


class UnsafeArchiveError(QbenchError):
    """An archive member would be written outside the extraction folder."""

    exit_code = 3


def download(url: str, dest: Path, progress: bool = True, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` (atomically) with a tqdm progress bar."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, os.fdopen(fd, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp_name, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise DataNotFoundError(f"cannot download {url}: {exc}") from exc
    return dest


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
            for target, info in targets:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeArchiveError(f"archive member {info.filename!r} is a symbolic link")
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


def fetch_dataset(ds: PinnedDataset, progress: bool = True) -> list[str]:
    """Download whatever of ``ds`` is missing into its folder; returns the files still missing."""
    missing = ds.missing()
    if not missing:
        return []
    src = ds.source
    if not src.urls:
        raise DataNotFoundError(ds.where_message())
    ds.folder.mkdir(parents=True, exist_ok=True)
    if len(src.urls) == 1 and src.urls[0].endswith((".zip", ".tar", ".tar.gz", ".tgz")):
        with tempfile.TemporaryDirectory(dir=ds.folder.parent) as tmp:
            archive = download(src.urls[0], Path(tmp) / Path(src.urls[0]).name, progress)
            safe_extract(archive, Path(tmp) / "x")
            inner = Path(tmp) / "x" / src.archive_subdir
            for f in missing:
                if (inner / f).is_file():
                    os.replace(inner / f, ds.folder / f)
    else:
        by_name = {Path(u).name: u for u in src.urls}
        for f in missing:
            if f in by_name:
                download(by_name[f], ds.folder / f, progress)
    return ds.missing()
