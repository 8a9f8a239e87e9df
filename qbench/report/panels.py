"""Visual comparisons: per dataset, the image where the solvers disagree most on the primary metric
(at the lowest-rate point of the first codec) and any the suite lists under ``report: {examples:
[...]}``, each shown as one PNG panel: the full original with a
zoom box, then the same crop of the original, the compressed image and each solver's output,
each captioned with its metric value and bpp.

The crop (a fixed-size square, at most a third of the image's shorter side) is where the outputs
differ most: the window with the largest summed per-pixel spread across the images shown, on a
fixed grid, first maximum wins (deterministic). Panels are drawn from the cache (the original's
file, the stored bitstream or decoded image, the outputs) and only when what they show changed:
their signature hashes the samples' keys and values, so a cached rerun reads no pixels.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..store import Store
from .data import STORE_NAME, ReportData
from .document import Figure
from .formatting import digits_of, file_slug, fmt, quality_text

FOLDER = Path("figures") / "panels"
CROP = 96
_STYLE = 1


@dataclass(frozen=True)
class Tile:
    """One image of a panel: its caption and where its pixels are (a file, or a bitstream to decode)."""

    caption: str
    path: str
    encoded: bool = False


@dataclass(frozen=True)
class Panel:
    dataset: str
    image: str
    title: str
    original: str
    tiles: tuple[Tile, ...]
    key: str                          # what the panel shows (hash of sample keys and values)
    stem: str = ""

    @property
    def file(self) -> str:
        return (FOLDER / f"{self.stem or 'panel_' + file_slug(self.dataset)}.png").as_posix()


def _samples(data: ReportData) -> dict[int, tuple]:
    """ordinal -> (original file, bitstream file, decoded file, output file, enc_key, out_key)."""
    with Store(Path(data.out_dir) / STORE_NAME, readonly=True) as store:
        _, rows = store.query(
            "SELECT p.ordinal, (SELECT f.path FROM files f WHERE f.pixel_hash = p.image_hash LIMIT 1), "
            "e.bytes_path, e.decoded_path, CASE WHEN p.out_role = 'enhanced' THEN a.path END, p.enc_key, p.out_key "
            "FROM plan p JOIN encodings e ON e.enc_key = p.enc_key LEFT JOIN artefacts a "
            "ON a.key = p.out_key AND a.role = p.out_role WHERE p.suite_hash = ?", (data.suite_hash,))
    return {int(r[0]): tuple(r[1:]) for r in rows}


def panel_specs(data: ReportData, metric: str | None) -> list[Panel]:
    """The panels of each dataset: the automatic choice, then the suite's ``report.examples`` (none
    without a metric, an on-disk original or two solvers)."""
    per = data.per_image
    if metric is None or data.out_dir is None or per.empty or metric not in per.columns or per["solver"].nunique() < 2:
        return []
    samples = _samples(data)
    passthrough = {s for s, i in data.solvers.items() if i.passthrough}
    panels = []
    for dataset, sub in per.groupby("dataset", sort=False):
        codec = sub["codec"].iloc[0]
        sub = sub[sub["codec"] == codec]
        point = sub.groupby("quality")["bpp"].mean().idxmin()
        sub = sub[(sub["quality"] == point) & sub["task"].ne("rescale")]
        spread = sub.groupby("image", sort=False)[metric].agg(lambda v: v.max() - v.min()).dropna()
        listed = [str(i) for i in ((data.suite.get("report") or {}).get("examples") or [])]
        chosen = ([spread.idxmax()] if len(spread) else []) + [i for i in listed if i in set(sub["image"])]
        for n, image in enumerate(dict.fromkeys(chosen)):
            panel = _panel(data, metric, samples, passthrough, sub, str(dataset), codec, point, image)
            if panel is not None:
                stem = f"panel_{file_slug(str(dataset))}" + ("" if n == 0 else f"_{file_slug(image)}")
                panels.append(replace(panel, stem=stem))
    return panels


def _panel(data: ReportData, metric: str, samples: dict, passthrough: set, sub, dataset: str, codec: str,
           point: float, image: str) -> Panel | None:
    """The panel of one image at one codec point, or None when its original is not on disk."""
    rows = sub[sub["image"] == image].sort_values("ordinal").to_dict(orient="records")
    first = samples.get(int(rows[0]["ordinal"])) if rows else None
    if first is None or not first[0] or not Path(first[0]).is_file():
        return None
    d = digits_of(data, metric)
    point_text = f"{codec} {quality_text(data, codec, point)}"
    bpp = f"{rows[0]['bpp']:.3f} bpp"
    tiles = [Tile("original", first[0])]
    comp = next((r for r in rows if r["solver"] in passthrough), None)
    compressed = first[2] or first[1]
    tiles.append(Tile(f"compressed ({point_text})" + (f": {fmt(comp[metric], d)}" if comp else "") + f", {bpp}",
                      compressed, encoded=not first[2]))
    for r in rows:
        if r["solver"] in passthrough:
            continue
        s = samples.get(int(r["ordinal"]))
        if s and s[3]:
            tiles.append(Tile(f"{r['solver']}: {fmt(r[metric], d)}, {r['bpp']:.3f} bpp", s[3]))
    if len(tiles) < 3:
        return None
    key = json.dumps([_STYLE, CROP, [t.caption for t in tiles],
                      [samples[int(r["ordinal"])][4:] for r in rows if int(r["ordinal"]) in samples]])
    return Panel(dataset, image, f"{dataset}/{image}: {metric} at {point_text}", first[0], tuple(tiles),
                 hashlib.sha256(key.encode()).hexdigest()[:20])


def _load(tile: Tile) -> np.ndarray:
    from ..images import decode_bytes, read_image

    img = decode_bytes(Path(tile.path).read_bytes()) if tile.encoded else read_image(tile.path)
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def crop_where_outputs_differ(images: list[np.ndarray], size: int) -> tuple[int, int, int]:
    """(top, left, side) of the square window where ``images`` (same shape) differ most."""
    h, w = images[0].shape[:2]
    side = max(8, min(size, min(h, w) // 3 or min(h, w)))
    stack = np.stack([im.astype(np.float64).mean(axis=2) for im in images])
    spread = stack.std(axis=0)
    integral = np.pad(spread.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 4)
    best, at = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            s = (integral[top + side, left + side] - integral[top, left + side] - integral[top + side, left]
                 + integral[top, left])
            if s > best + 1e-9:
                best, at = s, (top, left)
    return at[0], at[1], side


def draw_panel(panel: Panel, out_dir: Path) -> Path:
    """Draw one panel to ``out_dir/<panel.file>``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    images = [_load(t) for t in panel.tiles]
    h = min(im.shape[0] for im in images)
    w = min(im.shape[1] for im in images)
    images = [im[:h, :w] for im in images]
    top, left, side = crop_where_outputs_differ(images[1:], CROP)
    n = len(images) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 3.0))
    try:
        axes[0].imshow(images[0])
        axes[0].add_patch(Rectangle((left, top), side, side, fill=False, edgecolor="red", lw=1.5))
        axes[0].set_title("original (zoom box)", fontsize=8)
        for ax, im, tile in zip(axes[1:], images, panel.tiles):
            ax.imshow(im[top:top + side, left:left + side], interpolation="nearest")
            ax.set_title(tile.caption.replace("$", r"\$"), fontsize=7, wrap=True)    # names are text, not math
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(panel.title.replace("$", r"\$"), fontsize=9)
        fig.tight_layout()
        path = Path(out_dir) / panel.file
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    finally:
        plt.close(fig)
    return path


def panel_figures(data: ReportData, metric: str | None, out_dir: str | Path) -> dict[str, list[Figure]]:
    """Draw (when changed) each dataset's panel into ``out_dir``; the figures per dataset."""
    from .cache import ReportCache

    from ..errors import ImageError

    out_dir = Path(out_dir)
    panels = panel_specs(data, metric)

    def draw(p: Panel) -> None:
        try:
            draw_panel(p, out_dir)
        except (OSError, ValueError, ImageError):     # a cache file gone: no panel, the report goes on
            (out_dir / p.file).unlink(missing_ok=True)

    ReportCache(out_dir).redraw_changed("panels", [(p.file, p.key, [out_dir / p.file], lambda p=p: draw(p))
                                                   for p in panels])
    out: dict[str, list[Figure]] = {}
    for p in panels:
        if (out_dir / p.file).is_file():
            out.setdefault(p.dataset, []).append(Figure(p.file, f"Visual comparison: {p.title}"))
    return out
