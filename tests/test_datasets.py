import dataclasses
import hashlib
import io
import json
import tarfile
import zipfile

import pytest
from click.testing import CliRunner
from PIL import Image

from qbench.datasets import PINNED, build, builtin
from qbench.datasets.builtin import PinnedDataset, SkimageSamples, load_manifest
from qbench.datasets.download import (
    ChecksumError,
    UnsafeArchiveError,
    fetch_dataset,
    safe_extract,
)
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


# -- SR benchmark and CLIC built-ins: archives laid out as the real ones, served from file:// URLs --

SR_LAYOUT = {   # built-in name -> (folder inside EDSR's benchmark.tar, image names)
    "set5": ("Set5", ["baby", "bird", "butterfly", "head", "woman"]),
    "set14": ("Set14", ["baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers", "foreman",
                        "lenna", "man", "monarch", "pepper", "ppt3", "zebra"]),
    "bsd100": ("B100", [str(3096 + 7 * i) for i in range(100)]),
    "urban100": ("Urban100", [f"img{i:03d}" for i in range(1, 101)]),
}


def _png(seed: int, h: int = 10, w: int = 9, channels: int = 3) -> bytes:
    buf = io.BytesIO()
    img = smooth_image(seed, h, w, channels)
    Image.fromarray(img[..., 0] if channels == 1 else img).save(buf, format="PNG")
    return buf.getvalue()


def _tar_add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


@pytest.fixture
def sr_benchmark_tar(tmp_path, monkeypatch):
    """A miniature benchmark.tar (HR and an LR folder per set) pinned for the four SR built-ins."""
    arc = tmp_path / "src" / "benchmark.tar"
    arc.parent.mkdir()
    with tarfile.open(arc, "w") as tf:
        for seed, (folder, names) in enumerate(SR_LAYOUT.values()):
            for i, n in enumerate(names):
                gray = folder == "Set14" and n in ("bridge", "man")
                _tar_add(tf, f"benchmark/{folder}/HR/{n}.png", _png(100 * seed + i, channels=1 if gray else 3))
                _tar_add(tf, f"benchmark/{folder}/LR_bicubic/X2/{n}x2.png", _png(7, 5, 5))
    md5 = hashlib.md5(arc.read_bytes()).hexdigest()
    for name in SR_LAYOUT:
        monkeypatch.setitem(builtin.SOURCES, name, dataclasses.replace(
            builtin.SOURCES[name], urls=(arc.as_uri(),), archive_md5=md5))
    return arc


def test_every_pinned_source_is_registered():
    assert set(PINNED) == set(builtin.SOURCES)
    for name in ("set5", "set14", "bsd100", "urban100", "div2k_valid", "clic_professional_valid"):
        src = builtin.SOURCES[name]
        assert src.urls and (src.files or src.count)
        assert not builtin.load_manifest(name)   # no manifest pinned: never seen locally


def test_every_catalogued_download_and_homepage_is_https():
    """Every host of the dataset and weight catalogues serves https; plain http would let anyone
    on the path swap a download (for sets without a pinned checksum, undetected)."""
    from qbench.catalogue import catalogue

    urls = [u for s in builtin.SOURCES.values() for u in (s.homepage, *s.urls)]
    urls += [wf.url for wf in catalogue().values() if wf.url]
    plain = [u for u in urls if not u.startswith("https://")]
    assert not plain and len(urls) > 30


def test_a_download_refuses_a_redirect_from_https_to_http():
    import urllib.error
    import urllib.request

    from qbench.datasets.download import _NoDowngrade

    req = urllib.request.Request("https://example.org/a.zip")
    with pytest.raises(urllib.error.URLError, match="not https"):
        _NoDowngrade().redirect_request(req, None, 302, "Found", {}, "http://example.org/a.zip")
    assert _NoDowngrade().redirect_request(req, None, 302, "Found", {}, "https://mirror.example.org/a.zip")


def test_a_fetch_that_fails_leaves_no_empty_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(builtin.SOURCES, "div2k_valid", dataclasses.replace(
        builtin.SOURCES["div2k_valid"], urls=((tmp_path / "absent.zip").as_uri(),)))
    root = tmp_path / "data"
    res = CliRunner().invoke(main_cli(), ["data", "fetch", "div2k_valid", "--data-root", str(root)])
    assert res.exit_code == 3 and "cannot download" in res.output
    assert not root.exists()
    (root / "div2k_valid").mkdir(parents=True)          # a folder that was there before stays
    CliRunner().invoke(main_cli(), ["data", "fetch", "div2k_valid", "--data-root", str(root)])
    assert (root / "div2k_valid").is_dir()


def main_cli():
    from qbench.cli import main

    return main


def test_sr_benchmark_fetch_extracts_each_set_and_reuses_the_shared_archive(sr_benchmark_tar, tmp_path):
    root = tmp_path / "data"
    for name, (_, names) in SR_LAYOUT.items():
        ds = builtin.PinnedDataset(name, data_root_override=str(root))
        assert ds.missing()
        assert fetch_dataset(ds, progress=False) == []
        recs = ds.records()
        assert sorted(r.name for r in recs) == sorted(names) and not any(r.expected_hash for r in recs)
        assert ds.load(recs[0]).shape[:2] == (10, 9)
        assert not list(ds.folder.glob("*x2.png"))        # only the HR folder is taken
        if name == "set5":
            sr_benchmark_tar.unlink()                    # later sets come from the kept archive
    assert (root / ".archives" / "benchmark.tar").is_file()
    gray = builtin.PinnedDataset("set14", data_root_override=str(root))
    assert gray.load(next(r for r in gray.records() if r.name == "man")).shape == (10, 9, 1)


def test_sr_datasets_load_from_a_folder_with_modcrop(tmp_path, monkeypatch):
    for name, (_, names) in SR_LAYOUT.items():
        for i, n in enumerate(names):
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"{n}.png").write_bytes(_png(i, 11, 14))
    monkeypatch.setenv("QBENCH_DATA", str(tmp_path))
    for name, (_, names) in SR_LAYOUT.items():
        ds = build(name, {"modcrop": 4})
        assert len(ds.records()) == len(names)
        img = ds.load(ds.records()[0])
        full = build(name).load(ds.records()[0])
        assert img.shape == (8, 12, 3) and (img == full[:8, :12]).all()   # top-left, as MATLAB modcrop
    (tmp_path / "set14" / "baboon.png").unlink()
    with pytest.raises(DataNotFoundError, match=r"exactly 14 images \(13 of 14"):
        build("set14").records()
    with pytest.raises(DataNotFoundError, match="baby.png"):
        build("set5", {"root": str(tmp_path / "nope")}).records()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


@pytest.mark.parametrize("name,members,count", [
    ("div2k_valid", {f"DIV2K_valid_HR/{i:04d}.png": i for i in range(801, 901)}, 100),
    ("clic_professional_valid", {f"valid/photo_{i:02d}.png": i for i in range(41)}, 41),
])
def test_zip_datasets_fetch_with_checksum(tmp_path, monkeypatch, name, members, count):
    arc = tmp_path / "a.zip"
    arc.write_bytes(_zip_bytes({n: _png(s, 6, 6) for n, s in members.items()}))
    monkeypatch.setitem(builtin.SOURCES, name, dataclasses.replace(
        builtin.SOURCES[name], urls=(arc.as_uri(),), archive_md5=hashlib.md5(arc.read_bytes()).hexdigest()))
    ds = builtin.PinnedDataset(name, data_root_override=str(tmp_path / "d"))
    assert fetch_dataset(ds, progress=False) == []
    assert len(ds.records()) == count and ds.load(ds.records()[-1]).shape == (6, 6, 3)
    assert not (tmp_path / "d" / ".archives").exists()   # an archive of one set is not kept


def test_fetch_refuses_a_wrong_checksum_and_an_escaping_member(tmp_path, monkeypatch):
    arc = tmp_path / "a.zip"
    arc.write_bytes(_zip_bytes({"valid/a.png": _png(1)}))
    src = builtin.SOURCES["clic_professional_valid"]
    monkeypatch.setitem(builtin.SOURCES, "clic_professional_valid",
                        dataclasses.replace(src, urls=(arc.as_uri(),), archive_md5="0" * 32))
    ds = builtin.PinnedDataset("clic_professional_valid", data_root_override=str(tmp_path / "d"))
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        fetch_dataset(ds, progress=False)
    assert not (tmp_path / "d").exists()             # a failed fetch leaves no (empty) folder
    arc.write_bytes(_zip_bytes({"valid/a.png": _png(1), "valid/../../../evil.png": b"x"}))
    monkeypatch.setitem(builtin.SOURCES, "clic_professional_valid", dataclasses.replace(
        src, urls=(arc.as_uri(),), archive_md5=hashlib.md5(arc.read_bytes()).hexdigest()))
    with pytest.raises(UnsafeArchiveError):
        fetch_dataset(builtin.PinnedDataset("clic_professional_valid", data_root_override=str(tmp_path / "d")),
                      progress=False)
    assert not list(tmp_path.rglob("evil.png")) and not (tmp_path / "d").exists()


def test_cli_fetch_and_verify_state_an_unknown_checksum_and_a_missing_manifest(tmp_path, monkeypatch):
    from qbench.cli import main

    arc = tmp_path / "a.zip"
    arc.write_bytes(_zip_bytes({f"valid/{i}.png": _png(i, 6, 6) for i in range(41)}))
    monkeypatch.setitem(builtin.SOURCES, "clic_professional_valid", dataclasses.replace(
        builtin.SOURCES["clic_professional_valid"], urls=(arc.as_uri(),), archive_md5=None))
    root = str(tmp_path / "d")
    res = CliRunner().invoke(main, ["data", "fetch", "clic_professional_valid", "--data-root", root])
    assert res.exit_code == 0, res.output
    assert "archive checksum unknown" in res.output and "no pixel-hash manifest pinned" in res.output
    res = CliRunner().invoke(main, ["data", "verify", "clic_professional_valid", "--data-root", root])
    assert res.exit_code == 0 and "41 images" in res.output and "UNVERIFIED" in res.output
    out = tmp_path / "m.json"
    res = CliRunner().invoke(main, ["data", "manifest", "clic_professional_valid", "--data-root", root, "-o", str(out)])
    files = json.loads(out.read_text())["files"]
    assert res.exit_code == 0 and len(files) == 41 and files["0.png"]["shape"] == [6, 6, 3]


@pytest.mark.parametrize("bad", [2.5, True, "2", 0])
def test_modcrop_must_be_a_whole_number(bad):
    from qbench.errors import ConfigError
    from qbench import datasets

    with pytest.raises(ConfigError, match="modcrop"):
        datasets.build("skimage-samples", {"modcrop": bad})
