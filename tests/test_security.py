"""Security checks: pinned weights, archive extraction, escaping in reports, no shell for codecs."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from qbench.cli import main
from qbench.datasets.download import UnsafeArchiveError, safe_extract
from qbench.errors import CodecError, WeightsError
from qbench.report import write_reports
from qbench.report.html import SCRIPT
from qbench.runner import Runner
from qbench.suite import parse_suite
from qbench.weights import WeightFile, ensure, local_path, verify

from .conftest import save, smooth_image

# -- weights ------------------------------------------------------------------------------------


def test_tampered_weight_file_is_refused_naming_the_file(tmp_path):
    good = b"weights" * 100
    import hashlib

    wf = WeightFile("model.pth", "https://example.invalid/model.pth",
                    sha256=hashlib.sha256(good).hexdigest(), subdir="solvers/x")
    path = local_path(wf)
    path.parent.mkdir(parents=True)
    path.write_bytes(good)
    assert verify(wf) == path
    path.write_bytes(good[:-1] + b"!")              # one byte changed
    with pytest.raises(WeightsError, match="model.pth.*sha256") as exc:
        ensure(wf, allow_download=False)
    assert str(path) in str(exc.value)
    prefixed = WeightFile("m-0123abcd.pth", "u", sha256_prefix="0123abcd")
    local_path(prefixed).parent.mkdir(parents=True, exist_ok=True)
    local_path(prefixed).write_bytes(b"not matching the prefix")
    with pytest.raises(WeightsError, match="m-0123abcd.pth"):
        verify(prefixed)


def test_tampered_solver_weights_fail_that_solver_alone(tmp_path):
    """A pinned baseline whose file was replaced: `weights verify` exits 3 naming it; a run records
    the failure for that solver and finishes the others."""
    from qbench_baselines.learned import RealESRGANGeneral

    wf = RealESRGANGeneral.card.weights[0]
    path = local_path(wf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(1024))
    res = CliRunner().invoke(main, ["weights", "verify", wf.filename])
    assert res.exit_code == 3 and "BAD      " in res.output and str(path) in res.output, res.output
    folder = tmp_path / "imgs"
    save(smooth_image(1, 24, 24), folder / "a.png")
    data = {"name": "w", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [30]}],
            "solvers": ["identity", "realesr_general_x4v3"], "metrics": ["psnr_rgb"],
            "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    result = Runner(parse_suite(data), tmp_path / "out", workers=0, progress=False).run()
    assert result.failures and all(stage == "solve" for _, stage, _ in result.failures)
    assert all(str(path) in err and "sha256" in err for _, _, err in result.failures)
    import sqlite3

    db = sqlite3.connect(tmp_path / "out" / "results.sqlite")
    assert db.execute('SELECT COUNT(*) FROM "values" WHERE metric="psnr_rgb"').fetchone()[0] == 1  # identity


# -- archives -----------------------------------------------------------------------------------


def _zip(members: list[tuple[str, bytes, int | None]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


ZIPS = {
    "dotdot": [("ok.txt", b"ok", None), ("../evil.txt", b"x", None)],
    "nested_dotdot": [("ok.txt", b"ok", None), ("a/b/../../../evil.txt", b"x", None)],
    "absolute": [("ok.txt", b"ok", None), ("/tmp/evil.txt", b"x", None)],
    "backslash": [("ok.txt", b"ok", None), ("..\\evil.txt", b"x", None)],
    "drive": [("ok.txt", b"ok", None), ("C:/evil.txt", b"x", None)],
    "symlink": [("ok.txt", b"ok", None), ("link", b"/etc", 0o120777), ("link/passwd", b"x", None)],
}
TARS = {
    "dotdot": [("ok.txt", b"ok"), ("../evil.txt", b"x")],
    "absolute": [("ok.txt", b"ok"), ("/tmp/evil.txt", b"x")],
    "symlink_then_file": [("ok.txt", b"ok"), _link("d", ".."), ("d/evil.txt", b"x")],
    "symlink_out": [("ok.txt", b"ok"), _link("s", "/etc/passwd")],
    "hardlink": [("ok.txt", b"ok"), _link("h", "/etc/passwd", tarfile.LNKTYPE)],
    "fifo": [("ok.txt", b"ok"), _link("f", "", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("kind", sorted(ZIPS))
def test_zip_slip_is_refused_before_anything_is_written(tmp_path, kind):
    arc = tmp_path / "a.zip"
    arc.write_bytes(_zip(ZIPS[kind]))
    dest = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match="escapes|link"):
        safe_extract(arc, dest)
    assert not (dest / "ok.txt").exists(), "members were written before the archive was refused"
    assert not list(tmp_path.rglob("evil.txt")) and not (dest / "link").exists()


@pytest.mark.parametrize("kind", sorted(TARS))
def test_tar_slip_is_refused_before_anything_is_written(tmp_path, kind):
    arc = tmp_path / "a.tar.gz"
    arc.write_bytes(_tar(TARS[kind]))
    dest = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(arc, dest)
    assert not (dest / "ok.txt").exists()
    assert not list(tmp_path.rglob("evil.txt"))


def test_archive_cannot_write_through_a_symlink_already_in_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    arc = tmp_path / "a.zip"
    arc.write_bytes(_zip([("sub/evil.txt", b"x", None)]))
    with pytest.raises(UnsafeArchiveError):
        safe_extract(arc, dest)
    assert not (outside / "evil.txt").exists()


# -- escaping in the reports ----------------------------------------------------------------------
EVIL_SOLVER = "<script>alert('s')</script>|`x`"
EVIL_DIR = "<script>alert(1)<"      # with recursive listing, the image is named <script>alert(1)</script>


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    folder = root / "<img src=x onerror=alert(2)>|ds`"
    save(smooth_image(3, 24, 32), folder / EVIL_DIR / "script>.png")
    save(smooth_image(4, 24, 32), folder / "b|`c`*_[x](javascript:alert(3)).png")
    (folder / "zz <b>broken</b>.png").parent.mkdir(parents=True, exist_ok=True)
    (folder / "zz <b>broken</b>.png").write_bytes(b"not a png")
    data = {"name": "evil", "description": "<script>alert('d')</script>",
            "datasets": [{"name": "folder", "params": {"path": str(folder), "recursive": True}}],
            "codecs": [{"name": "jpeg", "qualities": [20, 60], "label": "<i>jpeg</i>|`q`"}],
            "solvers": ["identity", {"name": "tests.solvers_for_tests:Explodes", "label": EVIL_SOLVER}],
            "metrics": ["psnr_rgb"], "anchor": "<i>jpeg</i>|`q`",
            "output": {"bootstrap": 0, "bd_bootstrap": 0}}
    out = root / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    return out, res


def test_html_report_has_no_injected_elements(evil_run):
    out, res = evil_run
    assert any("boom" in e for _, _, e in res.failures)        # the failure section is rendered too
    page = (out / "leaderboard.html").read_text(encoding="utf-8")
    own = f"<script>{SCRIPT}</script>"                # the page's one script: sorting and filtering
    assert page.count(own) == 1
    page = page.replace(own, "")
    parser = _Elements()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "i" not in tags and "b" not in tags
    assert not [a for t, a in parser.tags if t == "img" and ("onerror" in a or a.get("src") == "x")]
    assert all(not k.startswith("on") for _, a in parser.tags for k in a)
    assert not [a for t, a in parser.tags if t == "a" and a.get("href", "").startswith("javascript:")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page         # the image name is shown, escaped


def _md_unescaped_html(md: str) -> list[str]:
    """Raw HTML tags a Markdown renderer would pass through (not inside code, not backslash-escaped)."""
    import re

    text = re.sub(r"(`+)(.+?)\1", "", md)          # drop code spans
    return re.findall(r"(?<!\\)<\s*/?\s*(script|img|i|b)\b", text)


def test_markdown_report_escapes_names(evil_run):
    out, _ = evil_run
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert not _md_unescaped_html(md), _md_unescaped_html(md)
    assert "](javascript:" not in md.replace("\\]", "").replace("\\(", "")
    # every table row has as many unescaped pipes as its header
    import re

    blocks, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(len(re.findall(r"(?<!\\)\|", line)))
        elif current:
            blocks.append(current)
            current = []
    assert blocks and all(len(set(b)) == 1 for b in blocks), blocks


# -- external codecs ------------------------------------------------------------------------------


def _external(**over):
    from qbench import codecs

    params = {"encode": ["cp", "{input}", "{output}"], "decode": ["cp", "{input}", "{output}"],
              "suffix": ".png"} | over
    return codecs.build("external", params)


_SPAWNS: list[tuple] = []
_WATCH = [False]


def _audit(event: str, args: tuple) -> None:
    if _WATCH[0] and event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
        _SPAWNS.append((event, args))


def test_external_codec_never_uses_a_shell(tmp_path):
    """Every process the external codec starts (seen through Python's audit hooks) is the
    configured program with its arguments as a list: shell metacharacters stay inert."""
    import sys

    import numpy as np

    if _audit not in getattr(sys, "_qbench_hooks", ()):
        sys.addaudithook(_audit)               # hooks cannot be removed: guarded by _WATCH
        sys._qbench_hooks = (*getattr(sys, "_qbench_hooks", ()), _audit)
    img = smooth_image(5, 16, 16)
    marker = tmp_path / "pwned"
    _SPAWNS.clear()
    _WATCH[0] = True
    try:
        codec = _external()
        enc = codec.encode(img, 5)
        assert np.array_equal(codec.decode(enc.data, 3), img)      # cp of a PNG is lossless
        evil = _external(encode=["cp", "{input}", "{output}", f"; touch {marker}"],
                         decode=["cp", "{input}", f"$(touch {marker})"])
        with pytest.raises(CodecError, match="cp exited"):
            evil.encode(img, 5)
        with pytest.raises(CodecError):
            evil.decode(enc.data, 3)
    finally:
        _WATCH[0] = False
    assert not marker.exists()
    assert len(_SPAWNS) == 4 and all(e == "subprocess.Popen" for e, _ in _SPAWNS), _SPAWNS
    for _, (executable, args, *_rest) in _SPAWNS:
        assert isinstance(args, list) and args[0] == "cp" and Path(executable).name == "cp"
    assert f"; touch {marker}" in _SPAWNS[2][1][1]             # passed to cp as one argument
    from qbench.errors import ConfigError

    with pytest.raises(ConfigError, match="no shell string"):
        _external(encode=f"cp {{input}} {{output}}; touch {marker}")
