"""Regenerate the committed leaderboards: rerun ``suites/<name>.yaml`` and rewrite
``leaderboards/<name>/``.

The suite runs in ``leaderboards/<name>/run/`` (ignored by git: its store and cache), fresh unless
``resume`` is asked; then the reports (leaderboard.md/html, summary.csv, per_image.csv, bd.csv,
results.json and the RD figures as SVG) are copied up beside it, and the baseline that
``qbench check`` reads (``baseline.csv`` + ``baseline.json``, see :mod:`qbench.regress.values`) is
written. The baseline files are deterministic; the reports carry the run's own record (times, commit,
measured latency) and change with it. SVG figures are drawn with a fixed id salt and date so that
unchanged results redraw them byte for byte.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, QbenchError

RUN_FOLDER = "run"
REPORT_FILES = ("leaderboard.md", "leaderboard.html", "summary.csv", "per_image.csv", "bd.csv", "results.json")
FIGURE_GLOB = "rd_*.svg"
#: visual comparison panels, kept at the relative path the reports link to
PANEL_GLOB = "figures/panels/*.png"
SVG_SALT = "qbench"
SVG_EPOCH = "0"


def suite_file(root: str | Path, name: str) -> Path:
    """``suites/<name>.yaml`` under ``root``."""
    return Path(root) / "suites" / f"{name}.yaml"


def leaderboard_names(root: str | Path = ".") -> list[str]:
    """Committed leaderboards under ``root/leaderboards`` that have a suite of the same name."""
    folder = Path(root) / "leaderboards"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and suite_file(root, p.name).is_file())


@contextmanager
def _deterministic_svg():
    """Matplotlib SVGs without a random id salt or the current date."""
    import matplotlib

    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = SVG_EPOCH
    try:
        with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
            yield
    finally:
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def regenerate(name: str, root: str | Path = ".", *, data_root: str | None = None, workers: int | None = None,
               device: str = "cpu", resume: bool = False, progress: bool = False,
               log: Callable[[str], None] | None = None) -> list[Path]:
    """Rerun the suite ``name`` and rewrite ``root/leaderboards/<name>/``; returns the files written.

    Raises :class:`~qbench.errors.ConfigError` when ``suites/<name>.yaml`` is missing and a
    :class:`~qbench.errors.QbenchError` when any job failed (nothing is rewritten then).
    """
    from .regress.values import from_run, write_baseline
    from .report import write_reports
    from .runner import Runner
    from .runner.resolve import resolve
    from .suite import load_suite

    root = Path(root)
    path = suite_file(root, name)
    if not path.is_file():
        raise ConfigError(f"no suite {path} for leaderboard {name!r}; leaderboards with a suite: "
                          f"{', '.join(leaderboard_names(root)) or 'none'}")
    suite = load_suite(path)
    resolved = resolve(suite, str(path), data_root)
    target = root / "leaderboards" / name
    run_dir = target / RUN_FOLDER
    result = Runner(resolved, run_dir, device=device, workers=workers, fresh=not resume, data_root=data_root,
                    progress=progress, log=log).run()
    if result.failures:
        first = result.failures[0]
        raise QbenchError(f"{name}: {len(result.failures)} job(s) failed (first: [{first[1]}] {first[0]}: "
                          f"{str(first[2]).splitlines()[0] if first[2] else ''}); {target} left as it was")
    with _deterministic_svg():
        written = write_reports(run_dir, ("md", "csv", "json", "html", "plots"), run_id=result.run_id)
    for old in [target / f for f in REPORT_FILES] + sorted(target.glob(FIGURE_GLOB)) + sorted(target.glob(PANEL_GLOB)):
        old.unlink(missing_ok=True)
    out: list[Path] = []
    for f in written:
        if f.name in REPORT_FILES or f.match(FIGURE_GLOB):
            shutil.copyfile(f, target / f.name)
            out.append(target / f.name)
    for f in sorted(run_dir.glob(PANEL_GLOB)):
        dest = target / f.relative_to(run_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
        out.append(dest)
    out += write_baseline(from_run(run_dir), target)
    return out


LITERATURE = "literature"


def check_literature(name: str, root: str | Path = ".", *, out_root: str | Path = "runs/literature",
                     data_root: str | None = None, workers: int | None = None, device: str = "cpu",
                     fresh: bool = False, progress: bool = False, log: Callable[[str], None] | None = None):
    """Run the suite that reproduces the published table ``leaderboards/literature/<name>/`` into
    ``out_root/<name>`` (resuming what is there unless ``fresh``) and check the run against the
    table (:func:`qbench.regress.published.check_published`)."""
    from .regress.published import check_published, load_published
    from .report import write_reports
    from .runner import Runner
    from .runner.resolve import resolve
    from .suite import load_suite

    root = Path(root)
    published = load_published(root / "leaderboards" / LITERATURE / name)
    path = suite_file(root, published.suite)
    if not path.is_file():
        raise ConfigError(f"published table {name!r} names suite {published.suite!r}, but {path} is missing")
    suite = load_suite(path)
    resolved = resolve(suite, str(path), data_root)
    run_dir = Path(out_root) / name
    Runner(resolved, run_dir, device=device, workers=workers, fresh=fresh, data_root=data_root,
           progress=progress, log=log).run()
    write_reports(run_dir, ("md", "csv", "json"))
    return check_published(published, run_dir)


def literature_names(names: tuple[str, ...] | list[str], root: str | Path = ".") -> list[str]:
    """Expand ``literature`` (every published table) and ``literature/<name>``; other names are
    taken as table names and must exist."""
    from .regress.published import literature_tables

    known = literature_tables(root)
    out: list[str] = []
    for n in names or (LITERATURE,):
        picked = known if n == LITERATURE else [n.removeprefix(LITERATURE + "/")]
        for p in picked:
            if p not in known:
                import difflib

                hint = difflib.get_close_matches(p, known, n=3, cutoff=0.5)
                near = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                raise ConfigError(f"no published table {p!r} under {Path(root) / 'leaderboards' / LITERATURE}"
                                  f"{near} Tables: {', '.join(known) or 'none'}")
            if p not in out:
                out.append(p)
    return out


__all__ = ["check_literature", "leaderboard_names", "literature_names", "regenerate", "suite_file"]
