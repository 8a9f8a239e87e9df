"""The leaderboard as a document, section by section, in the order of :data:`SECTIONS`: header,
the ranking by the primary metric (per codec point and over each ladder), one table per
dataset (with its RD figures), gains over the compressed input, BD-rate, solvers and cost,
set-level values between image sets, the FID triangle (table; its figure is in the diagnostics
document), skipped metrics, failures.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..suite import stored_setting
from .aggregate import P_SUFFIX, Aggregates
from .bd import LOW_OVERLAP, anchor_source, anchors_of
from .branches import branches_section
from .data import KEYS, LEADERBOARD_PAIR, ReportData
from .document import Cell, Code, Document, Figure, Items, Paragraph, Preformatted, Section, Table
from .formatting import arrow, digits_of, fmt, is_nan, quality_text
from .model import ReportModel
from .plots import PlotSpec, codec_only
from .regions import region_sections
from .residuals import residual_sections
from .roles import roles_section
from .triangle import triangle_sections

MAX_FAILURES = 50
#: samples named per kind of failure in the Failures section (sorted; the rest are counted)
MAX_FAILED_SAMPLES = 8


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _value_cell(data: ReportData, metric: str, value, ci: tuple[float, float], sign: str = "") -> Cell:
    d = digits_of(data, metric)
    lo, hi = ci
    note = "" if is_nan(value) or is_nan(lo) else f"[{fmt(lo, d, sign)}, {fmt(hi, d, sign)}]"
    return Cell(fmt(value, d, sign), note)


def header(data: ReportData) -> list:
    """The introduction: description, suite hash, run, versions, and how values were measured."""
    env, run = data.env, data.run
    blocks = []
    if data.suite.get("description"):
        blocks.append(Paragraph.of(str(data.suite["description"])))
    meta: list = ["Suite hash ", Code(data.suite_hash), f" · run {run['run_id']} ({run.get('status')})"]
    for label, key in (("qbench", "qbench"), ("torch", "torch"), ("Pillow", "pillow"), ("libjpeg", "libjpeg"),
                       ("device", "device")):
        if env.get(key):
            meta.append(f" · {label} {env[key]}")
    if env.get("git_commit"):
        meta += [" · commit ", Code(str(env["git_commit"])[:10])]
    blocks.append(Paragraph.of(*meta))
    quant = ("Outputs are clamped to [0, 1] and rounded to 8 bits before measurement."
             if stored_setting(data.suite, "quantize") else "Outputs are measured unquantised (suite output.quantize: false).")
    blocks.append(Paragraph.of(
        "Values are means of per-image values with a bootstrap 95% confidence interval "
        f"[{stored_setting(data.suite, 'bootstrap')} resamples over images]; ↑ higher is better, ↓ lower is better. " + quant))
    return blocks


def dataset_sections(data: ReportData, agg: Aggregates, figures: dict[str, list[PlotSpec]],
                     panels: dict[str, list[Figure]] | None = None) -> list[Section]:
    """One section per dataset: every series' means with CIs, and its RD figures."""
    summary, names = agg.summary, data.all_metric_names
    alone = codec_only(data)             # codecs compared alone: no solver column
    out = []
    for dataset in dict.fromkeys(summary["dataset"]) if len(summary) else []:
        rows = []
        for r in summary[summary["dataset"] == dataset].to_dict(orient="records"):
            key = tuple(r[k] for k in KEYS)
            row = [] if alone else [r["solver"]]
            row += [r["codec"], quality_text(data, r["codec"], r["quality"]), str(int(r["n_images"])),
                   str(int(r.get("n_failed", 0))), fmt(r["bpp"], 4)]
            row += [_value_cell(data, m, r[m], agg.ci[key][m]) for m in names]
            rows.append(row)
        headers = ([] if alone else ["solver"]) + ["codec", "quality", "images", "failed", "bpp ↓"]
        headers += [f"{m} {arrow(data, m)}" for m in names]
        blocks: list = [Table.of(headers, rows, 1 if alone else 2, "leaderboard")]
        blocks += [Figure(f"{spec.stem}.svg", f"RD curve: {spec.metric} on {spec.dataset}")
                   for spec in figures.get(str(dataset), [])]
        blocks += (panels or {}).get(str(dataset), [])
        out.append(Section(str(dataset), blocks, f"dataset-{_slug(str(dataset))}"))
    return out


def _gain_cell(data: ReportData, gain: str, row: dict, ci: tuple[float, float]) -> Cell:
    """A gain with its CI and, when the aggregates hold one, its paired test's p-value."""
    cell = _value_cell(data, gain, row[gain], ci, "+")
    p = row.get(gain + P_SUFFIX)
    if p is None or is_nan(p):
        return cell
    return Cell(cell.text, f"{cell.note} p={p:.2g}".strip())


def gains_section(data: ReportData, agg: Aggregates) -> list[Section]:
    """Gains over the compressed input, with CIs and sign-test p-values."""
    if agg.gains.empty:
        return []
    gains = [c for c in agg.gains.columns if c.endswith("_gain")]
    rows = []
    for r in agg.gains.to_dict(orient="records"):
        key = tuple(r[k] for k in KEYS)
        rows.append([r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]),
                     str(int(r["n_images"]))] + [_gain_cell(data, g, r, agg.gains_ci[key][g]) for g in gains])
    text = ("Mean per-image change of each metric from the compressed input to the solver's output, "
            "counted in the metric's better direction (positive = the solver improved it), with a "
            "paired bootstrap 95% confidence interval and the two-sided p-value of an exact sign test "
            "over images (p; with n images it cannot go below 2^(1-n)). Rows without a comparable "
            "compressed image (rescaling) and pass-through solvers are left out.")
    headers = ["dataset", "solver", "codec", "quality", "images"] + [g.removesuffix("_gain") for g in gains]
    return [Section("Gain over the compressed input", [Paragraph.of(text), Table.of(headers, rows, 3)], "gains")]


def bd_section(data: ReportData, agg: Aggregates) -> list[Section]:
    """BD-rate and BD-metric against each anchor, with CIs and the curves' overlap."""
    anchors, table = anchors_of(data), agg.bd
    if not anchors or table.empty:
        return []
    text = ("Bjontegaard delta rate (pchip, percent; negative = fewer bits at equal quality) with a "
            "bootstrap 95% CI over images, and BD-metric, the average metric difference at equal rate. "
            f"An overlap marked (!) is below {LOW_OVERLAP:.2f}: the curves share little of their quality "
            "range and the delta covers only that part. A row marked in the curves column averages a gain "
            "and a loss: the mean curves cross at the rates given, or BD-rate and BD-metric disagree in "
            "sign; read the RD figure there, not the delta.")
    anchor_names = {codec: f"{codec} + {solver}" for solver, codec in anchors}
    blocks: list = [Paragraph.of(text)]
    if data.references:
        anchor_names |= {codec: f"{codec} ({anchor_source(data, (solver, codec))})"
                         for solver, codec in anchors if codec in data.references}
        blocks.append(Paragraph.of(
            "A published curve (solver published; see Published references) has only its mean points: a row "
            "with one compares mean curves (the measured one over the images given), without a confidence interval."))
    rows = []
    for r in table.to_dict(orient="records"):
        rate = Cell("–") if is_nan(r["bd_rate"]) else Cell(
            f"{r['bd_rate']:+.2f}%", "" if is_nan(r["bd_rate_ci_low"]) else
            f"[{r['bd_rate_ci_low']:+.2f}, {r['bd_rate_ci_high']:+.2f}]")
        rows.append([r["dataset"], anchor_names.get(r["anchor"], r["anchor"]), r["solver"], r["codec"], r["metric"],
                     rate, fmt(r["bd_metric"], 4, "+"), str(int(r["n_images"])) if r["n_images"] else "–",
                     f"{r['overlap']:.2f}" + (" (!)" if r["overlap"] < LOW_OVERLAP else ""), _curves_cell(r)])
    headers = ["dataset", "anchor", "solver", "codec", "metric", "BD-rate", "BD-metric", "images", "overlap",
               "curves"]
    names = ", ".join(f"{codec} (published)" if codec in data.references else f"{codec} + {solver}"
                      for solver, codec in anchors)
    return [Section(f"BD-rate against {names}", blocks + [Table.of(headers, rows, 5)], "bd-rate")]


def references_section(data: ReportData) -> list[Section]:
    """The published curves the suite lists: where each came from, its dataset and points."""
    if not data.references:
        return []
    from ..references import partial_dataset_notes

    text = ("Curves published elsewhere and read from the files named (mean bpp and mean metric per point on "
            "the dataset given), not measured by this run; drawn dashed on the RD figures. CompressAI's "
            "psnr-rgb/psnr is psnr_rgb here and ms-ssim-rgb/ms-ssim is ms_ssim_rgb (8-bit RGB, data range 255).")
    rows = [[ref.label, ref.name, ref.source, ref.dataset, str(len(ref.bpp)),
             f"{min(ref.bpp):.3f}–{max(ref.bpp):.3f}", ", ".join(ref.values), ref.sha256[:12]]
            for ref in data.references.values()]
    blocks: list = [Paragraph.of(text), Table.of(["label", "name", "file", "dataset", "points", "bpp", "metrics",
                                                  "sha256"], rows, 4)]
    notes = partial_dataset_notes(data.suite, data.references)
    if notes:
        blocks.append(Items(tuple((f"Warning: {n}",) for n in notes)))
    return [Section("Published references", blocks, "references")]


def _curves_cell(r: dict) -> str:
    """How the two curves lie: where they cross, or that the deltas' signs disagree, else ``–``."""
    if not r.get("crossing"):
        return "–"
    bpp = str(r.get("cross_bpp") or "")
    where = f"CROSS at {bpp.replace(';', ', ')} bpp" if bpp else "SIGNS DISAGREE"
    return f"{where} (overlap {r['overlap']:.2f})"


def _latency(c: dict) -> tuple[str, str]:
    """(median s/MP with its device, spread with the count and probe) of a cost row."""
    if is_nan(c["seconds_per_mp"]):
        return "–", "–"
    median = f"{_sec(c['seconds_per_mp'])} ({c['device']})" if c["device"] else _sec(c["seconds_per_mp"])
    if not c.get("spread") or is_nan(c.get("seconds_low")):
        return median, "one call"
    how = f"{int(c['n'])} calls on {int(c['probe'])} px" if c["spread"] == "min-max" else f"{int(c['n'])} encodings"
    return median, f"{_sec(c['seconds_low'])}–{_sec(c['seconds_high'])} ({c['spread']}, {how})"


def _sec(v: float) -> str:
    """Seconds: three decimals, or three significant digits below 0.1."""
    return f"{v:.3f}" if v >= 0.1 else f"{v:.3g}"


def cost_section(data: ReportData) -> list[Section]:
    """Each solver and learned codec: task, pipeline, blindness, parameters, FLOPs, latency and peak memory; codec time per megapixel."""
    records = data.costs.to_dict(orient="records")
    probes = {(r["label"], r["kind"]): r for r in records if r["step"] in ("solve", "encode+decode")}
    rows = []
    entries = [(s.label, "solver", s.task, s.pipeline + (" (pass-through)" if s.passthrough else ""),
                "blind" if s.blind else "non-blind") for s in data.solvers.values()]
    entries += [(c.label, "codec", "codec", "learned_codec", "–") for c in data.codecs.values() if c.learned]
    for label, kind, task, pipeline, blind in entries:
        c = probes.get((label, kind))
        if c is None:
            rows.append([label, task, pipeline, blind, "–", "–", "–", "–", "–"])
            continue
        params = c["params"]
        rows.append([label, task, pipeline, blind,
                     "–" if is_nan(params) else (f"{params / 1e6:.2f} M" if params else "0"),
                     "–" if is_nan(c["flops_per_mp"]) else f"{c['flops_per_mp'] / 1e9:.1f}", *_latency(c),
                     "–" if is_nan(c["peak_mem_mb"]) or not c["peak_mem_mb"] else f"{c['peak_mem_mb']:.0f}"])
    blocks: list = []
    if rows:
        text = Paragraph.of(
            "Non-blind methods use the codec setting (per-quality weights or the bitstream's tables). "
            "Cost is measured on a square probe image (side ", Code("output.cost_probe"), "): FLOPs by torch's "
            "FLOP counter; latency per megapixel on the device named is the median of ",
            Code("output.cost_repeats"), " calls after two warm-up calls, with the fastest and slowest beside it.")
        headers = ["solver", "task", "pipeline", "blind", "params", "GFLOPs/MP", "s/MP (median)", "spread",
                   "peak MB"]
        blocks += [text, Table.of(headers, rows, 4)]
    codec_rows = [[r["label"], r["step"], *_latency(r)] for r in records if r["kind"] == "codec"
                  and r["step"] not in ("solve", "encode+decode")]
    if codec_rows:
        text = ("Codec time per megapixel of the original image, over every encoding of this suite: median and "
                "interquartile range (library codecs in the CPU worker processes, which share the machine "
                "with each other; learned codecs on the device named).")
        blocks += [Paragraph.of(text), Table.of(["codec", "step", "s/MP (median)", "spread"], codec_rows, 2)]
    if not blocks:
        return []
    return [Section("Solvers and cost", blocks, "cost")]


def set_section(data: ReportData) -> list[Section]:
    """Set-level values between image roles other than the leaderboard's pair."""
    sets = data.set_values
    other = sets[(sets["ref_role"] != LEADERBOARD_PAIR[0]) | (sets["test_role"] != LEADERBOARD_PAIR[1])]
    if other.empty:
        return []
    rows = [[r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]), r["metric"],
             r["ref_role"], r["test_role"], fmt(r["value"], 4),
             "–" if is_nan(r["n_images"]) else str(int(r["n_images"])),
             "–" if is_nan(r["n_features"]) else str(int(r["n_features"]))]
            for r in other.to_dict(orient="records")]
    text = ("Set-level metrics between other pairs of image sets of each row (original, compressed, "
            "enhanced); the leaderboard's columns compare the originals with the outputs.")
    headers = ["dataset", "solver", "codec", "quality", "metric", "reference", "test", "value", "images", "features"]
    return [Section("Set-level values between image sets", [Paragraph.of(text), Table.of(headers, rows, 3)],
                    "set-values")]


def skipped_section(data: ReportData) -> list[Section]:
    """The metrics skipped in this run, and why."""
    if not data.skipped_metrics:
        return []
    items = tuple((Code(m), f": {reason}") for m, reason in sorted(data.skipped_metrics.items()))
    return [Section("Skipped metrics", [Items(items)], "skipped")]


def failures_section(data: ReportData) -> list[Section]:
    """Failures grouped by (stage, error, where): one line with the count and the samples it hit
    (sorted, the first few named), then the traceback once."""
    f = data.failures
    if not len(f):
        return []
    groups: dict[tuple[str, str, str], list] = {}
    for r in f.to_dict(orient="records"):
        lines = str(r["error"] or "").splitlines() or [""]
        at = lines[1][3:] if len(lines) > 1 and lines[1].startswith("at ") else ""
        g = groups.setdefault((str(r["stage"]), lines[0], at), [0, set(), "\n".join(lines[1:])])
        g[0] += 1
        g[1].add(str(r["detail"]))
    blocks: list = []
    for i, ((stage, first, at), (count, details, rest)) in enumerate(
            sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0]))):
        if i == MAX_FAILURES:
            blocks.append(Paragraph.of(f"… and {len(groups) - MAX_FAILURES} more kinds (see the ",
                                       Code("failures"), " table)"))
            break
        where = (" at ", Code(at)) if at else ()
        times = f"{count} × " if count > 1 else ""
        shown = sorted(details)
        more = f" … +{len(shown) - MAX_FAILED_SAMPLES} more" if len(shown) > MAX_FAILED_SAMPLES else ""
        blocks.append(Paragraph.of(f"{times}{stage}: {first}", *where,
                                   f" (on: {'; '.join(shown[:MAX_FAILED_SAMPLES])}{more})"))
        if rest.strip():
            blocks.append(Preformatted(rest))
    return [Section(f"Failures ({len(f)})", blocks, "failures")]


def _rank_text(rank, tied: bool) -> str:
    return "–" if rank is None or is_nan(rank) else f"={int(rank)}" if tied else str(int(rank))


def ranking_sections(model: ReportModel) -> list[Section]:
    """Solvers ranked by the primary metric per dataset and codec point, and over each codec's ladder."""
    data, metric, points, overall = model.data, model.primary, model.point_ranks, model.overall_ranks
    if metric is None or points is None or points.empty or points["solver"].nunique() < 2:
        return []
    d = digits_of(data, metric)
    rows = []
    for r in points.to_dict(orient="records"):
        value = _value_cell(data, metric, r["value"], (r["ci_low"], r["ci_high"]))
        rank = None if is_nan(r["rank"]) else int(r["rank"])
        emphasis = r["mark"]
        rows.append([r["dataset"], r["codec"], quality_text(data, r["codec"], r["quality"]),
                     _rank_text(rank, bool(r["tied"])), r["solver"], Cell(value.text, value.note, emphasis),
                     fmt(r["bpp"], 4), str(int(r["n_images"]))])
    text = (f"Solvers ranked by {metric} {arrow(data, metric)} (the suite's primary metric) within each dataset "
            "and codec point; the best value is bold, the second underlined. Solvers whose 95% confidence "
            "intervals overlap share a rank (=k, a tie): rank = 1 + the number of solvers better with a "
            "non-overlapping interval.")
    headers = ["dataset", "codec", "quality", "rank", "solver", f"{metric} {arrow(data, metric)}", "bpp", "images"]
    blocks: list = [Paragraph.of(text), Table.of(headers, rows, 5, "ranking")]
    sections = [Section(f"Ranking by {metric}", blocks, "ranking")]
    if overall is not None and len(overall) and overall["points"].max() > 1:
        bd = overall["bd_rate"].notna().any()
        orows = []
        for r in overall.to_dict(orient="records"):
            rank = None if is_nan(r["rank"]) else int(r["rank"])
            emphasis = r["mark"]
            by_gain = r["by"] == "gain"
            row = [r["dataset"], r["codec"], _rank_text(rank, bool(r["tied"])), r["solver"], str(int(r["points"])),
                   Cell(fmt(r["mean_gain"], d, "+"), "", emphasis if by_gain else ""),
                   Cell(fmt(r["mean_value"], d), "", "" if by_gain else emphasis)]
            if bd:
                row.append("–" if is_nan(r["bd_rate"]) else f"{r['bd_rate']:+.2f}%")
            orows.append(row)
        text = (f"Over each codec's ladder: the mean over its points of the solver's {metric} gain over the "
                f"compressed input and of its {metric}; ranked by the mean gain where every solver has one "
                "(pass-through solvers count 0), else by the mean value"
                + ("; BD-rate (percent, negative = fewer bits) against the anchor on " + metric if bd else "")
                + ". Equal values share a rank.")
        headers = ["dataset", "codec", "rank", "solver", "points", f"mean {metric} gain", f"mean {metric}"]
        headers += ["BD-rate"] if bd else []
        sections.append(Section(f"Overall ranking by {metric}", [Paragraph.of(text), Table.of(headers, orows, 4,
                                                                                           "ranking")],
                                "ranking-overall"))
    return sections


#: the leaderboard's sections, in order: each builds its sections from the report model
SECTIONS: tuple[tuple[str, Callable[[ReportModel], list[Section]]], ...] = (
    ("ranking", ranking_sections),
    ("datasets", lambda m: dataset_sections(m.data, m.agg, m.rd_by_dataset(), m.panels)),
    ("gains", lambda m: gains_section(m.data, m.agg)),
    ("roles", lambda m: roles_section(m.data, m.role_means)),
    ("bd", lambda m: bd_section(m.data, m.agg)),
    ("references", lambda m: references_section(m.data)),
    ("cost", lambda m: cost_section(m.data)),
    ("branches", lambda m: branches_section(m.data, m.branches)),
    ("set_values", lambda m: set_section(m.data)),
    ("triangle", lambda m: triangle_sections(m.data, m.triangle)),
    ("residuals", lambda m: residual_sections(m.data, m.residual_figures, m.residuals)),
    ("regions", lambda m: region_sections(m.data, m.regions)),
    ("skipped", lambda m: skipped_section(m.data)),
    ("failures", lambda m: failures_section(m.data)),
)


def leaderboard(model: ReportModel) -> Document:
    """The whole leaderboard document of ``model``: the sections of :data:`SECTIONS`, in order."""
    doc = Document(f"Leaderboard: {model.data.suite['name']}", header(model.data))
    for _, build in SECTIONS:
        doc.sections += build(model)
    return doc
