"""Cache files and their content hashes.

Every file a run writes to its cache (bitstreams, low-res images, solver outputs, stored decoded
images, diagnostic example images) is written atomically together with the sha256 of its bytes,
which the store records; whoever reads a cached file first checks it against that hash, and a file
that is missing, unrecorded or different is recomputed from its inputs. sha256 because it is the
fastest strong hash here (OpenSSL with SHA extensions: about 1.7 GB/s against 0.9 GB/s for blake2b).

A harness module, like the runner: how cache files are written and checked is not part of any
component's code identity (:mod:`qbench.codeid`), so a change here does not recompute results.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

OK, MISSING, UNRECORDED, MISMATCH = "ok", "missing", "unrecorded", "mismatch"


def digest(data: bytes) -> str:
    """The hash recorded for a cache file holding ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """The hash of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: folders this process made or found (a cache writes thousands of files into a few hundred
#: folders; each ``mkdir`` of an existing folder cost about 0.3 ms on the development machine)
_FOLDERS: set[Path] = set()


def write_atomic(data: bytes, path: str | os.PathLike) -> str:
    """Write ``data`` to ``path`` atomically (temp file + rename); returns its hash. The folder is
    made once per process; one removed meanwhile is made again."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.parent not in _FOLDERS:
        path.parent.mkdir(parents=True, exist_ok=True)
        _FOLDERS.add(path.parent)
    try:
        tmp.write_bytes(data)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
    os.replace(tmp, path)
    return digest(data)


def write_bytes(data: bytes, path: str | os.PathLike) -> str:
    """A cache file of bytes (a bitstream, a ``.npy`` output), written atomically; returns its hash."""
    return write_atomic(data, path)


def write_png(img, path: str | os.PathLike) -> str:
    """A cache image as a lossless PNG (zlib level 1), written atomically; returns its hash."""
    import io

    from .images import to_pil

    buf = io.BytesIO()
    to_pil(img).save(buf, format="PNG", compress_level=1)
    return write_atomic(buf.getvalue(), path)


def check(path: str | None, expected: str | None) -> str:
    """State of a cache file against its recorded hash: ``ok``, ``missing`` (no path or no
    file), ``unrecorded`` (present, but the store holds no hash: written by an older qbench)
    or ``mismatch`` (changed since it was written: damaged, truncated, replaced)."""
    if not path or not os.path.isfile(path):
        return MISSING
    if not expected:
        return UNRECORDED
    try:
        return OK if file_digest(path) == expected else MISMATCH
    except OSError:
        return MISSING


def verify_folder(out_dir: str | os.PathLike) -> tuple[int, list[tuple[str, str, str]]]:
    """Check every cache file a results folder's store refers to against its recorded hash.

    Returns (files checked, problems), a problem being (path, state, what the file is); the
    store itself must pass SQLite's ``quick_check``. Opens the store read-only."""
    from .vocabulary import STORE_NAME
    from .store import Store

    problems: list[tuple[str, str, str]] = []
    files: list[tuple[str | None, str | None, str]] = []
    with Store(Path(out_dir) / STORE_NAME, readonly=True) as store:
        _, rows = store.query("PRAGMA quick_check")
        if [r[0] for r in rows] != ["ok"]:
            problems.append((str(store.path), "damaged", "; ".join(str(r[0]) for r in rows[:5])))
        for key, e in sorted(store.all_encodings().items()):
            if e.bytes_path:
                files.append((e.bytes_path, e.bytes_hash, f"bitstream {key}"))
            if e.decoded_path:
                files.append((e.decoded_path, e.decoded_hash, f"decoded image {key}"))
        for (key, role), a in sorted(store.get_artefacts().items()):
            if a.path:
                files.append((a.path, a.hash, f"{role} image {key}"))
    for path, expected, what in files:
        state = check(path, expected)
        if state != OK:
            problems.append((str(path), state, what))
    return len(files), problems
