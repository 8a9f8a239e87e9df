"""Cache files are written atomically into folders made once per process."""

from __future__ import annotations

import shutil
from pathlib import Path

from qbench import cachefile


def test_a_folder_is_made_once_and_made_again_when_removed(tmp_path, monkeypatch):
    made = []
    real = Path.mkdir
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: (made.append(self), real(self, *a, **k))[1])
    folder = tmp_path / "cache" / "ab"
    cachefile.write_bytes(b"", folder / "0.bin")
    first = len(made)
    for i in range(1, 5):
        cachefile.write_bytes(b"x" * i, folder / f"{i}.bin")
    assert first and len(made) == first         # made once, not once per file
    shutil.rmtree(folder)                       # removed behind the writer's back
    h = cachefile.write_bytes(b"again", folder / "5.bin")
    assert (folder / "5.bin").read_bytes() == b"again" and h == cachefile.digest(b"again")
    assert not list(folder.glob(".*.tmp"))
