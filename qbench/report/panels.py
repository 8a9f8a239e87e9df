"""Visual comparisons: per dataset, the image where the compared images disagree most on the primary
metric and any the suite lists under ``report: {examples: [...]}``, each shown as one PNG panel
(drawn by :mod:`qbench.report.panel_draw`): the full original with a zoom box, the same crop of
every tile, each captioned with its metric value and bpp, and below them residual and error maps.

* A suite with solvers compares, at the first codec's lowest-rate point: the original, the
  compressed image and each solver's output; a rescaler adds, before its output, the low-res image
  it was given (its downscale after the codec, decoded from the stored bitstream; where no
  bitstream is kept, its stored low-res image before the codec, said so in the caption). The image shown
  is the one where the solvers' values (the pass-through's included) spread most.
* A codec-only suite (every solver a pass-through) compares codecs at matched rate: the common
  bpp is the lowest mean bpp that every codec reaches (the largest of the codecs' lowest ladder
  points), and each codec shows its ladder point closest to it (in log bpp); with a single codec,
  up to four points of its ladder, lowest to highest rate. The image shown is the one where those
  values spread most.

A suite with region diagnostics (:mod:`qbench.diagnostics.regions`) gets, after the original, the
crop of each one's class map (its stratifier run on the original, classes dark to light).

Panels are drawn from the cache (the original's file, the stored outputs, decoded images, or the
bitstreams decoded by their codec) and only when what they show changed: a panel's signature hashes
the samples' keys, captions and the drawing's settings, so a cached rerun reads no pixels. File
names are ``panel_<dataset>.png`` (the automatic choice) and ``panel_<dataset>_<image>.png`` (listed
images), made unique when two would meet (:func:`~qbench.report.formatting.unique_stems`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..store import Store
from ..vocabulary import LOWRES
from .data import STORE_NAME, ReportData
from .document import Figure
from .formatting import digits_of, file_slug, fmt, quality_text, unique_stems

if TYPE_CHECKING:
    from .figure_pass import FigurePass

FOLDER = Path("figures") / "panels"
CROP = 96
_STYLE = 2
LADDER_TILES = 4


@dataclass(frozen=True)
class Tile:
    """One image of a panel: its caption, where its pixels are (an image file, or a bitstream that
    ``decoder`` -- JSON ``[codec name, params]`` -- decodes), its role (``original``, ``compressed``,
    ``lowres``, ``output``, ``regions``: a region diagnostic's class map, whose ``decoder`` is JSON
    ``[stratifier, map params, number of classes]``), the index of the tile its ``E − C`` map is
    taken against (None: no map), whether its ``|X − O|`` map is drawn, and a short name for the
    maps' titles."""

    caption: str
    path: str
    decoder: str = ""
    role: str = "output"
    base: int | None = None
    error: bool = False
    short: str = ""


@dataclass(frozen=True)
class Panel:
    dataset: str
    image: str
    title: str
    tiles: tuple[Tile, ...]
    key: str                          # what the panel shows (hash of sample keys, captions, settings)
    stem: str = ""
    crop: int = CROP

    @property
    def file(self) -> str:
        return (FOLDER / f"{self.stem or 'panel_' + file_slug(self.dataset)}.png").as_posix()


@dataclass(frozen=True)
class _Sample:
    original: str | None
    bytes_path: str | None
    decoded_path: str | None
    output: str | None
    enc_key: str
    out_key: str
    pre_key: str | None
    lowres: str | None                # a rescaler's stored low-res image (before the codec)


def _samples(data: ReportData) -> dict[int, _Sample]:
    """ordinal -> the sample's files and keys, as the store records them."""
    with Store(Path(data.out_dir) / STORE_NAME, readonly=True) as store:
        _, rows = store.query(
            "SELECT p.ordinal, (SELECT f.path FROM files f WHERE f.pixel_hash = p.image_hash LIMIT 1), "
            "e.bytes_path, e.decoded_path, CASE WHEN p.out_role = 'enhanced' THEN a.path END, p.enc_key, "
            "p.out_key, p.pre_key, l.path FROM plan p JOIN encodings e ON e.enc_key = p.enc_key LEFT JOIN artefacts a "
            "ON a.key = p.out_key AND a.role = p.out_role LEFT JOIN artefacts l ON l.key = p.pre_key "
            "AND l.role = ? WHERE p.suite_hash = ?", (LOWRES, data.suite_hash))
    return {int(r[0]): _Sample(*r[1:]) for r in rows}


def _decoders(data: ReportData) -> dict[str, str]:
    """codec label -> JSON ``[name, params]`` that builds its decoder."""
    return {str(c.get("label") or c["name"]): json.dumps([c["name"], c.get("params") or {}], sort_keys=True)
            for c in data.suite.get("codecs", [])}


def _coded(s: _Sample, decoder: str) -> tuple[str, str] | None:
    """(path, decoder) of a sample's decoded image: the kept file, else its bitstream (None: neither on disk)."""
    if s.decoded_path and Path(s.decoded_path).is_file():
        return s.decoded_path, ""
    if s.bytes_path and Path(s.bytes_path).is_file():
        return s.bytes_path, decoder
    return None


def panel_specs(data: ReportData, metric: str | None) -> list[Panel]:
    """The panels of each dataset: the automatic choice, then the suite's ``report.examples`` (none
    without a metric or without an on-disk original)."""
    per = data.per_image
    if metric is None or data.out_dir is None or per.empty or metric not in per.columns:
        return []
    passthrough = {s for s, i in data.solvers.items() if i.passthrough}
    codec_only = set(per["solver"]) <= passthrough
    samples = _samples(data)
    decoders = _decoders(data)
    listed = [str(i) for i in ((data.suite.get("report") or {}).get("examples") or [])]
    panels = []
    for dataset, sub in per.groupby("dataset", sort=False):
        dataset = str(dataset)
        rows, title_at = (_codec_rows(data, sub) if codec_only else _solver_rows(sub))
        if rows is None or rows.empty:
            continue
        finite = rows[metric].where(np.isfinite(rows[metric].astype(float)))
        spread = finite.groupby(rows["image"], sort=False).agg(lambda v: v.max() - v.min()).dropna()
        chosen = ([spread.idxmax()] if len(spread) else []) + [i for i in listed if i in set(rows["image"])]
        for n, image in enumerate(dict.fromkeys(chosen)):
            part = rows[rows["image"] == image]
            build = _codec_panel if codec_only else _solver_panel
            panel = build(data, metric, samples, decoders, passthrough, part, dataset, str(image), title_at)
            if panel is not None:
                panels.append(replace(panel, stem=f"panel_{file_slug(dataset)}" + (
                    "" if n == 0 else f"_{file_slug(image)}")))
    stems = unique_stems({(p.dataset, p.image): p.stem for p in panels})
    return [replace(p, stem=stems[(p.dataset, p.image)]) for p in panels]


# -- suites with solvers ------------------------------------------------------------------------------
def _solver_rows(sub):
    """The first codec's lowest-rate point of a dataset's rows, and its text."""
    codec = sub["codec"].iloc[0]
    sub = sub[sub["codec"] == codec]
    point = sub.groupby("quality")["bpp"].mean().idxmin()
    return sub[sub["quality"] == point], (codec, point)


def _solver_panel(data: ReportData, metric: str, samples: dict[int, _Sample], decoders: dict[str, str],
                  passthrough: set, part, dataset: str, image: str, at) -> Panel | None:
    """Original, compressed, each solver (a rescaler's low-res input first); None when the original
    or every output is missing from disk."""
    codec, point = at
    rows = part.sort_values("ordinal").to_dict(orient="records")
    first = samples.get(int(rows[0]["ordinal"])) if rows else None
    if first is None or not first.original or not Path(first.original).is_file():
        return None
    d = digits_of(data, metric)
    point_text = f"{codec} {quality_text(data, codec, point)}"
    tiles = [Tile("original", first.original, role="original", short="O"), *_region_tiles(data, first.original)]
    keys = []
    enhance = [r for r in rows if r["task"] != "rescale"]
    compressed = None
    if enhance:
        s = samples.get(int(enhance[0]["ordinal"]))
        coded = _coded(s, decoders.get(codec, "")) if s else None
        if coded:
            comp = next((r for r in enhance if r["solver"] in passthrough), None)
            value = f": {fmt(comp[metric], d)}" if comp else ""
            compressed = len(tiles)
            tiles.append(Tile(f"compressed ({point_text}){value}, {enhance[0]['bpp']:.3f} bpp", coded[0], coded[1],
                              role="compressed", error=True, short="C"))
            keys.append(s.enc_key)
    for r in rows:
        if r["solver"] in passthrough:
            continue
        s = samples.get(int(r["ordinal"]))
        if s is None or not s.output:
            continue
        base = compressed
        if r["task"] == "rescale":
            coded = _coded(s, decoders.get(codec, ""))
            if coded is not None:
                base = len(tiles)
                tiles.append(Tile(f"{r['solver']}: its low-res input, decoded (nearest)", coded[0], coded[1],
                                  role="lowres", short=f"{r['solver']} low-res"))
            elif s.lowres:                    # no bitstream kept: the low-res image before the codec
                base = None
                tiles.append(Tile(f"{r['solver']}: its low-res image before the codec (nearest)", s.lowres,
                                  role="lowres", short=f"{r['solver']} low-res"))
            else:
                base = None
        tiles.append(Tile(f"{r['solver']}: {fmt(r[metric], d)}, {r['bpp']:.3f} bpp", s.output, base=base,
                          error=True, short=str(r["solver"])))
        keys.append([s.enc_key, s.out_key, s.pre_key])
    if len(tiles) < 2 or all(t.role != "output" for t in tiles):
        return None
    return _finish(dataset, image, f"{dataset}/{image}: {metric} at {point_text}", tiles, keys)


# -- codec-only suites --------------------------------------------------------------------------------
def _codec_rows(data: ReportData, sub):
    """A dataset's rows at the compared codec points (one pass-through solver) and the title's text."""
    solver = sub["solver"].iloc[0]
    sub = sub[sub["solver"] == solver]
    rates = sub.groupby(["codec", "quality"], sort=False)["bpp"].mean()
    codecs = list(dict.fromkeys(sub["codec"]))
    if len(codecs) >= 2:
        target = max(max(float(rates[c].min()) for c in codecs), 1e-12)
        points = []
        for c in codecs:
            ladder = rates[c]
            q = min(ladder.index, key=lambda q: (abs(math.log(max(ladder[q], 1e-12) / target)), ladder[q]))
            points.append((c, q))
        text = f"codecs near {target:.3f} bpp"
    else:
        ladder = rates[codecs[0]].sort_values()
        idx = sorted({round(i * (len(ladder) - 1) / max(1, LADDER_TILES - 1)) for i in range(LADDER_TILES)})
        points = [(codecs[0], ladder.index[i]) for i in idx]
        text = f"{codecs[0]} ladder"
    keep = sub.set_index(["codec", "quality"]).index.isin(points)
    rows = sub[keep]
    order = {p: i for i, p in enumerate(points)}
    rows = rows.assign(_at=[order[(c, q)] for c, q in zip(rows["codec"], rows["quality"])])
    return rows, text


def _codec_panel(data: ReportData, metric: str, samples: dict[int, _Sample], decoders: dict[str, str],
                 passthrough: set, part, dataset: str, image: str, text: str) -> Panel | None:
    """Original and each compared codec point; None when the original or every decoded image is missing."""
    rows = part.sort_values(["_at", "ordinal"]).to_dict(orient="records")
    first = samples.get(int(rows[0]["ordinal"])) if rows else None
    if first is None or not first.original or not Path(first.original).is_file():
        return None
    d = digits_of(data, metric)
    tiles = [Tile("original", first.original, role="original", short="O"), *_region_tiles(data, first.original)]
    keys = []
    for r in rows:
        s = samples.get(int(r["ordinal"]))
        coded = _coded(s, decoders.get(str(r["codec"]), "")) if s else None
        if coded is None:
            continue
        point = f"{r['codec']} {quality_text(data, r['codec'], r['quality'])}"
        tiles.append(Tile(f"{point}: {fmt(r[metric], d)}, {r['bpp']:.3f} bpp", coded[0], coded[1],
                          role="compressed", error=True, short=point))
        keys.append(s.enc_key)
    if len(tiles) < 2:
        return None
    return _finish(dataset, image, f"{dataset}/{image}: {metric}, {text}", tiles, keys)


def _region_tiles(data: ReportData, original: str) -> list[Tile]:
    """One class-map tile per region diagnostic in the store (its stratifier on the original)."""
    from .regions import region_labels

    tiles = []
    for label in region_labels(data):
        params = data.diagnostics.info[label].get("params") or {}
        strat = str(params.get("stratifier", "defocus"))
        names = [str(v).split("/", 1)[1] for v in data.diagnostics.info[label].get("values", ())
                 if str(v).startswith("psnr_gain/")]
        tiles.append(Tile(f"{label}: classes {', '.join(names)} (dark to light)", original,
                          json.dumps([strat, params.get("map") or {}, len(names)], sort_keys=True), role="regions",
                          short=label))
    return tiles


def _finish(dataset: str, image: str, title: str, tiles: list[Tile], keys: list) -> Panel:
    from .panel_draw import ERROR_SCALE, RESIDUAL_SCALE

    key = json.dumps([_STYLE, CROP, RESIDUAL_SCALE, ERROR_SCALE, title,
                      [[t.caption, t.role, t.base, t.error, t.decoder] for t in tiles], keys], default=str)
    return Panel(dataset, image, title, tuple(tiles), hashlib.sha256(key.encode()).hexdigest()[:20])


# -- the figure pass ----------------------------------------------------------------------------------
def draw_or_omit(panel: Panel, out_dir: Path) -> None:
    """Draw ``panel`` into ``out_dir``; when a cache file it reads is gone or undecodable, remove
    its old file instead (the panel is omitted)."""
    from ..errors import QbenchError
    from .panel_draw import draw_panel

    try:
        draw_panel(panel, out_dir)
    except (OSError, ValueError, ImportError, QbenchError):
        (out_dir / panel.file).unlink(missing_ok=True)


def schedule_panels(data: ReportData, metric: str | None, out_dir: Path,
                    drawer: FigurePass | None = None) -> list[Panel]:
    """Each dataset's panels, those that changed handed to ``drawer`` (default: drawn here, now)."""
    from .cache import ReportCache

    panels = panel_specs(data, metric)
    ReportCache(out_dir).redraw_changed(
        "panels", [(p.file, p.key, [out_dir / p.file], partial(draw_or_omit, p, out_dir)) for p in panels], drawer)
    return panels


def present_panels(panels: list[Panel], out_dir: Path) -> dict[str, list[Figure]]:
    """The figures of ``panels`` whose file is in ``out_dir``, per dataset."""
    out: dict[str, list[Figure]] = {}
    for p in panels:
        if (out_dir / p.file).is_file():
            out.setdefault(p.dataset, []).append(Figure(p.file, f"Visual comparison: {p.title}", wide=True))
    return out


def panel_figures(data: ReportData, metric: str | None, out_dir: str | Path) -> dict[str, list[Figure]]:
    """Draw (when changed) each dataset's panels into ``out_dir``; the figures per dataset."""
    out_dir = Path(out_dir)
    return present_panels(schedule_panels(data, metric, out_dir), out_dir)
