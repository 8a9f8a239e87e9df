"""Drawing a visual comparison panel (:mod:`qbench.report.panels`) from the cache's files.

Row 1 is the full original with a red zoom box, then the same crop of every tile. Below each
image that another one was made from, two maps of the same crop on fixed colour scales (the same
in every panel, so panels compare):

* ``E − C``: the signed difference between a solver's output and the compressed image it was
  given (a rescaler's decoded low-res image brought to full size by Pillow's bicubic), mean over
  channels, in grey levels clipped to ±:data:`RESIDUAL_SCALE`, blue = darker than C, red = brighter;
* ``|X − O|``: the error of each image against the original, RMS over channels, 0 to
  :data:`ERROR_SCALE` grey levels (``magma``: black = exact, light = large).

A region diagnostic's tile is its class map (the stratifier run on the original; ``cividis``,
class 0 darkest). A low-res tile is shown enlarged to the crop's size by nearest-neighbour repetition (its pixels stay
visible as blocks). The crop is where the full-size tiles differ most
(:func:`crop_where_outputs_differ`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .panels import Panel, Tile

#: grey levels at the ends of the E − C colour scale (signed) and of the |X − O| scale
RESIDUAL_SCALE = 16.0
ERROR_SCALE = 32.0
#: at most this many tiles side by side; more wrap into further bands of rows (a suite of many
#: solvers gives a panel that still fits a page's width)
MAX_COLUMNS = 8


def class_map(tile: Tile) -> np.ndarray:
    """A ``regions`` tile's class map ``(H, W)`` int: its stratifier run on the original's luma."""
    from ..diagnostics import STRATIFIERS
    from ..diagnostics.regions import luma
    from ..images import read_image

    name, params, _ = json.loads(tile.decoder)
    return np.asarray(STRATIFIERS.get(name)(**params).classify(luma(read_image(tile.path))))


def load_tile(tile: Tile, channels: int | None = None) -> np.ndarray:
    """The tile's pixels ``(H, W, 3)`` uint8: its image file, or its bitstream decoded by its codec
    (a ``regions`` tile: its class map ``(H, W)``)."""
    from ..images import read_image

    if tile.role == "regions":
        return class_map(tile)
    if tile.decoder:
        from .. import codecs

        name, params = json.loads(tile.decoder)
        img = codecs.build(name, params).decode(Path(tile.path).read_bytes(), channels=channels)
    else:
        img = read_image(tile.path)
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def nearest_to(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``img`` brought to ``h`` x ``w`` by nearest-neighbour repetition."""
    rows = np.arange(h) * img.shape[0] // h
    cols = np.arange(w) * img.shape[1] // w
    return img[rows][:, cols]


def bicubic_to(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``img`` brought to ``h`` x ``w`` by Pillow's bicubic (uint8)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(img[..., c]).resize((w, h), Image.BICUBIC))
                     for c in range(img.shape[2])], axis=2)


def crop_where_outputs_differ(images: list[np.ndarray], size: int) -> tuple[int, int, int]:
    """(top, left, side) of the square window where ``images`` (same shape) differ most: the
    largest summed per-pixel standard deviation across them, on a grid of a quarter side, first
    maximum wins (deterministic); the side is ``size``, at most a third of the shorter side."""
    h, w = images[0].shape[:2]
    side = max(8, min(size, min(h, w) // 3 or min(h, w)))
    side = min(side, h, w)
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


def residual_map(out: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``out − base`` in grey levels, mean over channels (float)."""
    return (out.astype(np.float64) - base.astype(np.float64)).mean(axis=2)


def error_map(img: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``|img − original|`` in grey levels, RMS over channels (float)."""
    d = img.astype(np.float64) - original.astype(np.float64)
    return np.sqrt((d * d).mean(axis=2))


def _pixels(panel: Panel) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Every tile at the original's size (low-res tiles enlarged by nearest) and, per tile, the
    full-size image its ``E − C`` map is taken against (None: no such map)."""
    original = load_tile(panel.tiles[0])
    h, w = original.shape[:2]
    raw = [original] + [load_tile(t, channels=3) for t in panel.tiles[1:]]
    shown, bases = [], []
    for tile, img in zip(panel.tiles, raw):
        shown.append(nearest_to(img, h, w) if tile.role == "lowres" else img)
    for tile in panel.tiles:
        if tile.base is None:
            bases.append(None)
            continue
        src = raw[tile.base]
        bases.append(bicubic_to(src, h, w) if panel.tiles[tile.base].role == "lowres" else src)
    return shown, bases


def draw_panel(panel: Panel, out_dir: Path) -> Path:
    """Draw ``panel`` to ``out_dir/<panel.file>``."""
    from matplotlib.patches import Rectangle

    from .canvas import new_figure

    shown, bases = _pixels(panel)
    h = min(im.shape[0] for im in shown + [b for b in bases if b is not None])
    w = min(im.shape[1] for im in shown + [b for b in bases if b is not None])
    shown = [im[:h, :w] for im in shown]
    bases = [None if b is None else b[:h, :w] for b in bases]
    full = [im for im, t in zip(shown[1:], panel.tiles[1:]) if t.role not in ("lowres", "regions")]
    top, left, side = crop_where_outputs_differ(full if len(full) >= 2 else [shown[0]] + full, panel.crop)
    box = (slice(top, top + side), slice(left, left + side))
    has_res = any(b is not None for b in bases)
    has_err = any(t.error for t in panel.tiles)
    rows = 1 + has_res + has_err                        # rows of one band of tiles
    cols = min(len(shown), MAX_COLUMNS)
    bands = -(-len(shown) // cols)                      # more tiles than MAX_COLUMNS wrap into bands
    fig = new_figure(figsize=(2.4 * (cols + 1), 2.55 * rows * bands + 0.35))
    grid = fig.subplots(rows * bands, cols + 1, squeeze=False)
    grid[0][0].imshow(shown[0])
    grid[0][0].add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="red", lw=1.5))
    grid[0][0].set_title("original (zoom box)", fontsize=7)
    shades: dict[int, Any] = {}
    for i, (im, tile, base) in enumerate(zip(shown, panel.tiles, bases)):
        band, col = divmod(i, cols)
        axes = [grid[band * rows + r][col + 1] for r in range(rows)]
        ax = axes[0]
        if tile.role == "regions":
            top_class = max(1, json.loads(tile.decoder)[2] - 1)
            ax.imshow(im[box], cmap="cividis", vmin=0, vmax=top_class, interpolation="nearest")
        else:
            ax.imshow(im[box], interpolation="nearest")
        ax.set_title(tile.caption.replace("$", r"\$"), fontsize=6.5, wrap=True)    # names are text, not math
        r = 1
        if has_res:
            if base is not None:
                shades[r] = axes[r].imshow(residual_map(im[box], base[box]), cmap="RdBu_r",
                                           vmin=-RESIDUAL_SCALE, vmax=RESIDUAL_SCALE, interpolation="nearest")
                axes[r].set_title(f"{tile.short} − C", fontsize=6.5)
            r += 1
        if has_err and tile.error:
            shades[r] = axes[r].imshow(error_map(im[box], shown[0][box]), cmap="magma", vmin=0.0,
                                       vmax=ERROR_SCALE, interpolation="nearest")
            axes[r].set_title(f"|{tile.short} − O|", fontsize=6.5)
    r = 1
    if has_res:
        _scale(fig, grid[r][0], shades.get(r), f"E − C (grey levels, ±{RESIDUAL_SCALE:g})")
        r += 1
    if has_err:
        _scale(fig, grid[r][0], shades.get(r), f"|X − O| (grey levels, 0-{ERROR_SCALE:g})")
    for row in grid:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            if not ax.images:
                ax.axis("off")
    fig.suptitle(panel.title.replace("$", r"\$"), fontsize=8)
    fig.tight_layout()
    path = Path(out_dir) / panel.file
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def _scale(fig, ax, shade, label: str) -> None:
    """A horizontal colour bar of ``shade`` in the (otherwise empty) axes ``ax``."""
    ax.axis("off")
    if shade is None:
        return
    cax = ax.inset_axes([0.08, 0.45, 0.84, 0.1])
    bar = fig.colorbar(shade, cax=cax, orientation="horizontal")
    bar.ax.tick_params(labelsize=6)
    bar.set_label(label, fontsize=6.5)
