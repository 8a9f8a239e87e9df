"""The report model: every table a report shows, derived once from the store's data.

:func:`build_model` computes the aggregates' companions (no-reference means by role, the FID
triangle, the branch table, the residual means) a single time; the figure pass
(:func:`draw_figures`) draws every figure beside the report, redrawing only what changed (in
child processes after a pool run, :mod:`qbench.report.figure_pass`); the
Markdown, HTML and JSON renderers then read the model and never recompute a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aggregate import Aggregates
from .branches import branch_table
from .data import ReportData
from .document import Figure
from .plots import PlotSpec
from .regions import region_tables
from .residuals import residual_tables
from .roles import role_means
from .triangle import triangle_table

if TYPE_CHECKING:
    from .figure_pass import FigurePass


@dataclass
class ReportModel:
    """One run's report, as tables: the data read from the store, the aggregates (summary with
    CIs, gains, BD) and the derived tables; ``rd_figures`` and ``residual_figures`` are the
    figures present beside the report (filled by :func:`draw_figures`)."""

    data: ReportData
    agg: Aggregates | None                            # None: a diagnostics-only model (no ranks, no RD figures)
    role_means: Any                                   # DataFrame (qbench.report.roles.role_means)
    triangle: Any                                     # DataFrame (qbench.report.triangle.triangle_table)
    branches: Any                                     # DataFrame (qbench.report.branches.branch_table)
    residuals: dict[str, tuple[list[str], list[dict]]]  # label -> (columns, mean rows)
    primary: str | None = None                        # the metric solvers are ranked by
    point_ranks: Any = None                           # DataFrame (qbench.report.ranks.point_ranks)
    overall_ranks: Any = None                         # DataFrame (qbench.report.ranks.overall_ranks)
    rd_specs: list[PlotSpec] = field(default_factory=list)
    rd_figures: list[PlotSpec] = field(default_factory=list)
    residual_figures: dict[str, list[Figure]] = field(default_factory=dict)
    panels: dict[str, list[Figure]] = field(default_factory=dict)   # dataset -> visual comparison panels
    figures_dir: str | None = None                    # where the figure pass drew the residual figures and panels
    triangle_figures: list | None = None              # FID triangle figures drawn in figures_dir (None: not drawn)
    conditional: dict[str, list[dict]] = field(default_factory=dict)  # label -> conditional-discriminator rows
    regions: dict[str, list] = field(default_factory=dict)   # label -> region rows (qbench.report.regions.region_tables)

    def rd_by_dataset(self) -> dict[str, list[PlotSpec]]:
        """The RD figures present, per dataset."""
        out: dict[str, list[PlotSpec]] = {}
        for spec in self.rd_figures:
            out.setdefault(spec.dataset, []).append(spec)
        return out


def build_model(data: ReportData, agg: Aggregates | None) -> ReportModel:
    """Derive every table of the report of ``data`` (with its aggregates ``agg``) once; without
    ``agg``, only the tables the diagnostics document shows (no ranks, no RD figures)."""
    from .plots import plot_specs
    from .ranks import overall_ranks, point_ranks, primary_metric

    primary = primary_metric(data)
    from .diagnose import conditional_labels, conditional_table

    model = ReportModel(data, agg, role_means(data), triangle_table(data), branch_table(data),
                        residual_tables(data), primary)
    model.conditional = {label: conditional_table(data, label) for label in conditional_labels(data)}
    model.regions = region_tables(data)
    if agg is not None:
        model.point_ranks = point_ranks(data, agg, primary)
        model.overall_ranks = overall_ranks(data, agg, primary)
        model.rd_specs = plot_specs(data, agg.summary, agg.ci)
    return model


def draw_figures(model: ReportModel, out_dir: str | Path, draw: bool = True, residuals: bool = True,
                 triangles: bool = False, drawer: FigurePass | None = None) -> ReportModel:
    """The figure pass: draw into ``out_dir``, where what they show changed, the RD figures (when
    ``draw``), the panels and residual figures (when ``residuals``) and the FID triangle figures
    (when ``triangles`` as well), by ``drawer`` (default: here, at once; the panels, the longest
    drawings, first), which is started. Once the drawings are done (at once, or when
    ``drawer.wait()`` returns) ``model`` records the figures present there (an RD figure only when
    its files show the current results)."""
    from .cache import ReportCache
    from .plots import draw as draw_rd
    from .residuals import residual_figures

    out_dir = Path(out_dir)
    panels = None
    if residuals:
        from .panels import schedule_panels

        panels = schedule_panels(model.data, model.primary, out_dir, drawer)
    if draw:
        ReportCache(out_dir).redraw_changed(
            "rd", [(s.stem, s.signature(), s.files(out_dir), partial(draw_rd, s, out_dir)) for s in model.rd_specs],
            drawer)
    model.residual_figures = residual_figures(model.data, out_dir, drawer=drawer) if residuals else {}
    if residuals:
        model.figures_dir = str(out_dir)
        if triangles:
            from .triangle import write_triangle_plots

            model.triangle_figures = (write_triangle_plots(model.data, model.triangle, out_dir, drawer)
                                      if len(model.triangle) else [])
    record = partial(_record_present, model, out_dir, panels)
    if drawer is None:
        record()
    else:
        drawer.after(record)
        drawer.start()
    return model


def _record_present(model: ReportModel, out_dir: Path, panels: list | None) -> None:
    """Record in ``model`` the RD figures whose files show the current results and the panels
    (when drawn: ``panels``) whose file is in ``out_dir``."""
    from .cache import ReportCache

    drawn = ReportCache(out_dir).figures()
    model.rd_figures = [s for s in model.rd_specs if drawn.get(s.stem) == s.signature()
                        and all(f.is_file() for f in s.files(out_dir))]
    if panels is not None:
        from .panels import present_panels

        model.panels = present_panels(panels, out_dir)
