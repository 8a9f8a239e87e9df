"""Where each sample's output image is on disk, and ``qbench export``: the outputs as a named tree.

The cache keeps outputs content-addressed (``cache/outputs/1c/1cac94e8....png``); :func:`output_paths`
reads from the store the file of each sample's output (a solver's output artefact, or for a
pass-through solver the decoded image when the codec's decoded images are kept, as a learned
codec's are), and :func:`export_images` writes them as
``DIR/<dataset>/<codec>_<setting>/<solver>/<image>.png``, hard-linked where the filesystem
allows, else copied.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..store import Store
from .data import STORE_NAME, ReportData, load_report_data
from .formatting import file_slug

OUTPUT_COLUMN = "output_path"


def output_paths(out_dir: str | Path, data: ReportData):
    """DataFrame (ordinal, ``output_path``) of ``data``'s samples: the output file relative to
    ``out_dir`` (absolute when outside it), None where no file is recorded."""
    import pandas as pd

    out_dir = Path(out_dir)
    with Store(out_dir / STORE_NAME, readonly=True) as store:
        cols, rows = store.query(
            "SELECT p.ordinal, CASE WHEN p.out_role = 'enhanced' THEN a.path ELSE e.decoded_path END "
            "FROM plan p JOIN encodings e ON e.enc_key = p.enc_key LEFT JOIN artefacts a "
            "ON a.key = p.out_key AND a.role = p.out_role WHERE p.suite_hash = ?", (data.suite_hash,))
    root = out_dir.resolve()

    def rel(path):
        if not path:
            return None
        p = Path(path)
        try:
            return p.resolve().relative_to(root).as_posix()
        except ValueError:
            return str(p)

    return pd.DataFrame([(int(o), rel(p)) for o, p in rows], columns=["ordinal", OUTPUT_COLUMN])


def with_output_paths(out_dir: str | Path, data: ReportData):
    """``data.per_image`` with the ``output_path`` column."""
    return data.per_image.merge(output_paths(out_dir, data), on="ordinal", how="left")


@dataclass
class Export:
    """What :func:`export_images` did: files written (linked or copied) and samples without a file."""

    written: list[Path] = field(default_factory=list)
    linked: int = 0
    missing: list[str] = field(default_factory=list)


def _place(src: Path, dest: Path) -> bool:
    """Hard-link ``src`` at ``dest`` (True), else copy it (False); an existing ``dest`` is replaced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    try:
        os.link(src, dest)
        return True
    except OSError:
        shutil.copyfile(src, dest)
        return False


def export_images(out_dir: str | Path, dest: str | Path, solvers: tuple[str, ...] = (),
                  datasets: tuple[str, ...] = (), run_id: int | None = None) -> Export:
    """Write the outputs of run ``run_id`` (default the latest) of ``out_dir`` under ``dest`` as
    ``<dataset>/<codec>_<setting>/<solver>/<image>.png``, only of ``solvers`` / ``datasets`` when
    given. Every path part is a :func:`~qbench.report.formatting.file_slug`, so no name can leave ``dest``."""
    out_dir, dest = Path(out_dir), Path(dest)
    data = load_report_data(out_dir, run_id=run_id)
    per = with_output_paths(out_dir, data)
    if solvers:
        per = per[per["solver"].isin(solvers)]
    if datasets:
        per = per[per["dataset"].isin(datasets)]
    result = Export()
    for r in per.to_dict(orient="records"):
        name = f"{r['dataset']}/{r['codec']}@{r['quality']:g}/{r['solver']}/{r['image']}"
        path = r.get(OUTPUT_COLUMN)
        src = None if not isinstance(path, str) or not path else (
            Path(path) if Path(path).is_absolute() else out_dir / path)
        if src is None or not src.is_file():
            result.missing.append(name)
            continue
        image = file_slug(str(r["image"]).replace("/", "_"))
        target = (dest / file_slug(r["dataset"]) / f"{file_slug(r['codec'])}_{r['quality']:g}"
                  / file_slug(r["solver"]) / f"{image}{src.suffix or '.png'}")
        result.linked += _place(src, target)
        result.written.append(target)
    return result
