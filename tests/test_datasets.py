import io
import tarfile
import zipfile

import pytest
from PIL import Image

from qbench.datasets import build
from qbench.datasets.builtin import PinnedDataset, SkimageSamples, load_manifest
from qbench.datasets.download import UnsafeArchiveError, safe_extract
from qbench.errors import DataNotFoundError, ImageError

from .conftest import REPO, smooth_image


def test_skimage_samples_offline():
    ds = SkimageSamples()
    recs = ds.records()
    assert [r.name for r in recs][:3] == ["astronaut", "chelsea", "coffee"]
    assert ds.load(recs[0]).shape == (512, 512, 3)
    assert ds.load(recs[3]).shape[2] == 1  # camera is gray


def test_folder_dataset_sorted_and_limited(image_folder):
    ds = build("folder", {"path": str(image_folder)}, limit=3)
    assert [r.name for r in ds.records()] == ["a", "b", "c"]
    with pytest.raises(DataNotFoundError, match="does not exist"):
        build("folder", {"path": str(image_folder / "nope")})


def test_pinned_dataset_missing_message_names_folder_and_files(tmp_path):
    ds = PinnedDataset("kodak", data_root_override=str(tmp_path))
    with pytest.raises(DataNotFoundError) as exc:
        ds.records()
    msg = str(exc.value)
    assert str(tmp_path / "kodak") in msg and "kodim01.png" in msg and "QBENCH_DATA" in msg


def test_pinned_dataset_accepts_reencoded_copy_and_rejects_other_pixels(tmp_path, monkeypatch):
    shared = REPO.parent / "shared" / "datasets" / "classic5"
    if not shared.is_dir():
        pytest.skip("local classic5 copy not available")
    dest = tmp_path / "classic5"
    dest.mkdir()
    for f in load_manifest("classic5"):
        Image.open(shared / f).save(dest / (f.rsplit(".", 1)[0] + ".png"))  # lossless re-encode
    monkeypatch.setenv("QBENCH_DATA", str(tmp_path))
    ds = build("classic5")
    recs = ds.records()
    assert len(recs) == 5 and all(ds.load(r).shape == (512, 512, 1) for r in recs)
    Image.fromarray(smooth_image(0, 512, 512, 1)[..., 0]).save(dest / "1.png")
    with pytest.raises(ImageError, match="does not match the pinned"):
        ds.load(ds.records()[0])


def _zip_with(name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok/a.txt", "fine")
        zf.writestr(name, "evil")
    return buf.getvalue()


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_safe_extract_refuses_escaping_zip_members(tmp_path, member):
    arc = tmp_path / "x.zip"
    arc.write_bytes(_zip_with(member))
    with pytest.raises(UnsafeArchiveError):
        safe_extract(arc, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "ok" / "a.txt").exists()  # checked before writing anything


def test_safe_extract_refuses_tar_symlink_and_extracts_good_tar(tmp_path):
    good = tmp_path / "g.tar"
    with tarfile.open(good, "w") as tf:
        data = b"hello"
        info = tarfile.TarInfo("d/f.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    safe_extract(good, tmp_path / "g")
    assert (tmp_path / "g" / "d" / "f.txt").read_bytes() == b"hello"
    bad = tmp_path / "b.tar"
    with tarfile.open(bad, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="not a regular file"):
        safe_extract(bad, tmp_path / "b")
