"""Every Python and shell example of README.md and docs/*.md runs as printed.

Shell blocks are split into commands (one per line) and run in a scratch folder that holds the
repository's ``suites/`` and ``leaderboards/``; ``qbench`` commands run in-process. A command
that cannot run here (it installs something, needs the network, a cluster, a browser, a dataset
that is not embedded, or weight files) is listed in :data:`EXCLUDED` with the reason; commands
that take long run on the embedded images with ``--limit`` (:data:`QUICK`). Every entry of both
lists must match a command of the docs, so neither list can go stale.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from .conftest import REPO, save, smooth_image

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

#: command prefix -> why it is not run by this test
EXCLUDED = {
    "python3 -m venv": "creates a virtual environment and installs packages (the install itself)",
    "pip install": "installs packages (network)",
    "python -m pytest": "runs the test suite this test is part of",
    "qbench run suites/kodak_rd.yaml": "needs the Kodak images (not embedded)",
    "qbench run suites/learned_kodak.yaml": "needs the Kodak images and CompressAI weights",
    "qbench measure kodak/ outputs/ --metrics psnr_y,ssim_y,lpips": "needs the LPIPS weights (download)",
    "qbench measure kodak/ outputs/ --metrics psnr_y_crop4,fid,kid": "needs the FID Inception weights (download)",
    "qbench run suites/quickstart.yaml --executor ray": "starts or joins a Ray cluster",
    "qbench weights fetch": "downloads weight files (network)",
    "qbench leaderboards check literature": "needs the literature datasets under ~/data",
    "qbench leaderboards check sr_bicubic_x2": "needs Set5/Set14/BSD100/Urban100",
    "qbench check runs/lit/sr_bicubic_x2": "needs the run of the line before (SR datasets)",
    "python benchmarks/bench_html_chromium.py": "needs Chromium",
    "qbench run suites/my_suite.yaml": "my_suite.yaml stands for the reader's own suite",
    "qbench report results/my_suite": "reports the reader's own suite (the line before)",
    "qbench check runs/ci --baseline leaderboards/quickstart": (
        "gates a complete quickstart run (about a minute here) against the committed baseline; "
        "tests/test_compare.py runs the same gate on a small run"),
    "qbench leaderboards regenerate": "rewrites the committed leaderboards/ (minutes; Classic5/LIVE1 need data)",
    "qbench run suites/sain_jpeg.yaml": "needs DIV2K and the SAIN weights",
    "qbench report runs/sain_jpeg": "reports the SAIN run of the line before",
    "qbench run suites/adaptive_sr_kodak.yaml": "needs the Kodak images",
}

#: command prefix -> arguments appended so that it runs in seconds on the embedded images
QUICK = {
    "qbench run suites/quickstart.yaml": ["--limit", "1", "--solvers", "identity,gaussian", "--workers", "0",
                                          "--quiet"],
    "qbench run suites/adaptive_sr_quickstart.yaml": ["--limit", "1", "--workers", "0", "--quiet"],
    "qbench diagnose suites/diagnose_quickstart.yaml": ["--workers", "0", "--quiet"],
}

#: Python blocks that are fragments, not programs, with the reason
PYTHON_FRAGMENTS = {
    "def enhance(self, batch, ctx):\n    ...": "a method body sketch (ctx.report calls) inside a solver",
}


def shell_commands(path: Path) -> list[str]:
    """The commands of the shell blocks of one Markdown file, comments removed, in order."""
    out = []
    for m in BLOCK.finditer(path.read_text(encoding="utf-8")):
        if m.group(1) not in ("bash", "sh", "shell", "console"):
            continue
        for line in m.group(2).replace("\\\n", " ").splitlines():     # continuation lines joined
            words = shlex.split(line, comments=True)
            if words:
                out.append(" ".join(words))
    return out


def python_blocks(path: Path) -> list[str]:
    return [m.group(2) for m in BLOCK.finditer(path.read_text(encoding="utf-8")) if m.group(1) == "python"]


def _matches(table: dict, command: str) -> str | None:
    return next((k for k in table if command.startswith(k)), None)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A working folder as a reader has it: the repository's suites/ and leaderboards/, and two
    images for ``qbench measure``."""
    (tmp_path / "suites").symlink_to(REPO / "suites")
    (tmp_path / "leaderboards").symlink_to(REPO / "leaderboards")
    img = smooth_image(5, 48, 64)
    save(img, tmp_path / "ref.png")
    save((img * 0.9).astype("uint8"), tmp_path / "restored.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _prepare(command: str, root: Path) -> None:
    """Results folders that a command reads and no earlier example wrote (a copy of the README's
    quickstart run; the CI example then resumes it instead of computing it again)."""
    if command.startswith("qbench run suites/quickstart.yaml --out runs/ci") and not (root / "runs" / "ci").exists():
        shutil.copytree(root / "runs" / "quickstart", root / "runs" / "ci")
    if command.startswith("qbench compare runs/before runs/after"):
        for name in ("before", "after"):
            if not (root / "runs" / name).exists():
                shutil.copytree(root / "runs" / "quickstart", root / "runs" / name)


def test_every_shell_example_runs_or_is_excluded_with_a_reason(scratch):
    from qbench.cli import main

    seen_excluded, seen_quick, ran = set(), set(), []
    for doc in DOCS:
        for command in shell_commands(doc):
            excluded = _matches(EXCLUDED, command)
            if excluded:
                seen_excluded.add(excluded)
                continue
            argv = shlex.split(command)
            assert argv[0] == "qbench", f"{doc.name}: {command!r} is neither a qbench command nor excluded"
            quick = _matches(QUICK, command)
            if quick:
                seen_quick.add(quick)
                argv += QUICK[quick]
            _prepare(command, scratch)
            res = CliRunner().invoke(main, argv[1:])
            assert res.exit_code == 0, (doc.name, command, res.output[-3000:], res.exception)
            ran.append(command)
    assert not set(EXCLUDED) - seen_excluded, f"stale exclusions: {sorted(set(EXCLUDED) - seen_excluded)}"
    assert not set(QUICK) - seen_quick, f"stale quick entries: {sorted(set(QUICK) - seen_quick)}"
    assert len(ran) >= 15, ran


def test_every_python_example_runs(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    seen, ran = set(), 0
    for doc in DOCS:
        for code in python_blocks(doc):
            fragment = _matches(PYTHON_FRAGMENTS, code)
            if fragment:
                seen.add(fragment)
                continue
            namespace: dict = {"__name__": f"docs_example_{ran}"}
            exec(compile(code, f"{doc.name} example", "exec"), namespace)
            ran += 1
            # a solver class defined by the example runs one batch
            from qbench.solvers import Context, Enhancer

            for obj in list(namespace.values()):
                if isinstance(obj, type) and issubclass(obj, Enhancer) and obj is not Enhancer:
                    batch = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
                    out = obj().enhance(batch, Context())
                    assert out.shape == batch.shape and torch.isfinite(out).all()
    assert not set(PYTHON_FRAGMENTS) - seen
    assert ran >= 1
