"""Figures drawn with matplotlib's object API: a :class:`matplotlib.figure.Figure` on its own Agg
canvas. No pyplot (whose import costs about 0.4 s), no global figure state, nothing to close: a
figure is freed with its last reference."""

from __future__ import annotations

from typing import Any


def new_figure(**kwargs: Any):
    """A new ``Figure(**kwargs)`` attached to an Agg canvas, as ``pyplot.figure`` with the Agg
    backend makes it (PNG and SVG files come out the same)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig
