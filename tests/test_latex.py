"""``qbench report --format latex``: booktabs tables that match a golden file and compile."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qbench.report import write_reports

from .test_report import XSS, build_store

GOLDEN = Path(__file__).parent / "golden" / "leaderboard.tex"


def test_latex_tables_match_the_golden_file(tmp_path):
    build_store(tmp_path)
    (path,) = write_reports(tmp_path, ("latex",))
    text = path.read_text(encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    assert r"\toprule" in text and r"\textbf{" in text and r"\underline{" in text and "psnr\\_y" in text


def test_latex_escapes_names(tmp_path):
    build_store(tmp_path, solver="a_b & 100% {x}", dataset=f"d{XSS}#")
    (path,) = write_reports(tmp_path, ("latex",))
    text = path.read_text(encoding="utf-8")
    assert r"a\_b \& 100\% \{x\}" in text and r"d<script>alert(1)</script>\#" in text


def test_cli_writes_latex(tmp_path):
    from click.testing import CliRunner

    from qbench.cli import main

    build_store(tmp_path)
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--format", "latex"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "leaderboard.tex").is_file() and not (tmp_path / "leaderboard.md").exists()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (Debian: texlive-latex-base, "
                    "texlive-latex-recommended)")
def test_latex_tables_compile_with_pdflatex(tmp_path):
    build_store(tmp_path, solver="a_b & 100% {x}")
    write_reports(tmp_path, ("latex",))
    doc = tmp_path / "paper.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   "\\input{leaderboard.tex}\n\\end{document}\n", encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
