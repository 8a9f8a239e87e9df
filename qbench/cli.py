"""The ``qbench`` command line: a thin layer that calls the library and maps errors to exit codes.

Exit codes: 0 success; 1 the run finished but some jobs failed (see the report), or compare/check
found a regression; 2 a bad suite, name or parameter (compare/check: metric versions that differ);
3 missing or broken data, weights, codec or store, and also: compare/check found values of the
reference missing from the other side, ``run --strict`` skipped a metric or diagnostic, a full
disk, a damaged store, a results folder that cannot be written; 4 any other qbench error;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import click

from .errors import QbenchError


def _handle_errors(fn):
    """One line and the documented exit code for every expected failure, never a traceback:
    a qbench error (its own code), an interrupt (130), and as a last resort an SQLite or
    file-system error that escaped the library (3: store or disk)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import sqlite3

        try:
            return fn(*args, **kwargs)
        except QbenchError as exc:
            click.echo(f"qbench: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("qbench: interrupted (rerun the same command to resume)", err=True)
            sys.exit(130)
        except sqlite3.Error as exc:
            click.echo(f"qbench: error: results store: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
            sys.exit(3)
        except OSError as exc:
            if exc.errno is None:
                raise
            click.echo(f"qbench: error: {_os_error(exc)}", err=True)
            sys.exit(3)
    return wrapper


@contextlib.contextmanager
def _writing(folder: Path, hint: str = ""):
    """Report documents written into ``folder``: a full, read-only or forbidden folder is one
    :class:`~qbench.errors.OutputError` (exit 3) naming it."""
    from .errors import FOLDER_ERRNOS, OutputError

    try:
        yield
    except OSError as exc:
        if exc.errno not in FOLDER_ERRNOS:
            raise
        raise OutputError(f"cannot write the reports in {folder}: {_os_error(exc)}{hint}") from exc


def _os_error(exc: OSError) -> str:
    """``[Errno 30] Read-only file system: 'runs/x'`` as one line."""
    import os

    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or os.strerror(exc.errno)}{where}"


#: ``--workers``: N >= 0 processes, or -1 for one per core; anything below -1 is a usage error (exit 2)
WORKERS = click.IntRange(min=-1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qbench")
def main() -> None:
    """Benchmark compressed-image enhancement, learned compression and rescaling methods."""


@main.command()
@click.argument("suite_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="results folder (default: runs/<suite name>/)")
@click.option("--device", default="auto", show_default=True,
              help="auto | cpu | cuda | cuda:N, or a list (cuda:0,cuda:1): one device worker per listed device")
@click.option("--workers", type=WORKERS, default=None,
              help="CPU worker processes for codec and metric stages (default: min(4, cores); 0 = in-process; "
                   "-1 = one per core)")
@click.option("--fresh", is_flag=True, help="discard the stored results and cache and start over")
@click.option("--recompute", "recompute", multiple=True, metavar="NAME",
              help="drop the stored results of one solver, codec, metric or diagnostic (its suite label; "
                   "kind:label when a label is used twice) and compute them again; repeatable")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="folder holding built-in datasets as <name>/ (default: $QBENCH_DATA)")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="where CPU stages run: a local process pool, or a Ray cluster (pip install qbench[ray])")
@click.option("--address", default=None, help="Ray cluster address (default: start a local one)")
@click.option("--device-actors", type=click.IntRange(min=1), default=None,
              help="with --executor ray: device actors for solvers and learned codecs (default: one per GPU "
                   "of the cluster, else 1 CPU actor)")
@click.option("--gpus-per-actor", type=click.FloatRange(min=0), default=None,
              help="with --executor ray: GPUs each device actor reserves (default 1 on a cluster with GPUs; "
                   "0.5 puts two actors on a GPU; 0 = CPU actors)")
@click.option("--rehash", is_flag=True,
              help="pixel-hash every image again instead of trusting the store's file-hash cache")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--strict", is_flag=True,
              help="exit 3 when a metric or diagnostic was skipped (e.g. its weights are missing), after the run "
                   "and its reports")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="quick run: at most N images per dataset")
@click.option("--solvers", "only_solvers", default=None,
              help="quick run: only these solvers (comma-separated suite labels or names)")
@click.option("--codecs", "only_codecs", default=None,
              help="quick run: only these codecs (comma-separated suite labels or names)")
@_handle_errors
def run(suite_file: Path, out_dir: Path | None, device: str, workers: int | None, fresh: bool,
        recompute: tuple[str, ...], data_root: str | None, executor: str, address: str | None,
        device_actors: int | None, gpus_per_actor: float | None, quiet: bool,
        strict: bool, rehash: bool, limit: int | None, only_solvers: str | None, only_codecs: str | None) -> None:
    """Run SUITE_FILE: compress, restore, measure, and write the leaderboard.

    Resumes by default: work already in the results store is not computed again. --limit,
    --solvers and --codecs narrow the suite without editing it (its hash then ends in
    '-narrowed'); a later full run reuses what the narrowed run computed.
    """
    _run_and_report(suite_file, out_dir, device=device, workers=workers, fresh=fresh, data_root=data_root,
                    quiet=quiet, executor=executor, address=address, strict=strict, recompute=recompute, rehash=rehash,
                    narrow={"limit": limit, "solvers": only_solvers, "codecs": only_codecs},
                    actors={"device_actors": device_actors, "gpus_per_actor": gpus_per_actor})


def _run_and_report(suite_file: Path, out_dir: Path | None, *, device: str, workers: int | None, fresh: bool,
                    data_root: str | None, quiet: bool, executor: str = "local", address: str | None = None,
                    diagnostics: bool = False, strict: bool = False, narrow: dict | None = None,
                    recompute: tuple[str, ...] = (), rehash: bool = False, actors: dict | None = None) -> None:
    """Validate, run and report a suite (``diagnostics``: the diagnostics document too, from the same
    report model); exit 1 on failures,
    else 3 when ``strict`` and a metric or diagnostic was skipped. ``narrow``: the keyword
    arguments of :func:`qbench.narrow.narrow_suite` (a quick run); ``actors``: the Runner's
    ``device_actors`` and ``gpus_per_actor``."""
    from .narrow import narrow_suite
    from .report import write_reports
    from .runner import Runner
    from .runner.resolve import resolve_file

    resolved = resolve_file(suite_file, data_root)
    for path, note in resolved.notes.items():
        click.echo(f"qbench: warning: {suite_file}: {path} {note}", err=True)
    # a quick run: the narrowed suite's components are built when it starts; otherwise the run
    # takes the components validation built
    suite = narrow_suite(resolved.suite, **(narrow or {}))
    narrowed = suite is not resolved.suite
    out = out_dir or Path("runs") / suite.name
    click.echo(f"qbench: suite {suite.name} ({suite.hash()}) -> {out}", err=True)
    result = Runner(suite if narrowed else resolved, out, device=device, workers=workers, fresh=fresh,
                    data_root=data_root, progress=not quiet, executor=executor, address=address,
                    recompute=recompute, rehash=rehash, **(actors or {}),
                    log=lambda m: click.echo(f"qbench: {m}", err=True)).run()
    with _writing(out):
        from .report.diagnose import FORMATS as DIAGNOSTIC_FORMATS

        files = write_reports(out, run_id=result.run_id, diagnostics=DIAGNOSTIC_FORMATS if diagnostics else ())
    if not result.computed_anything and not result.failures:
        click.echo(f"qbench: nothing new computed ({result.samples} samples reused from the store) "
                   f"in {result.seconds:.2f} s", err=True)
    else:
        click.echo(f"qbench: {result.samples} samples ({result.samples_done_before} reused): "
                   f"{result.encodings_computed} encodings, {result.outputs_computed} solver outputs, "
                   f"{result.metric_values_computed} metric values computed in {result.seconds:.1f} s",
                   err=True)
    if result.devices_lost:
        click.echo(f"qbench: {len(result.devices_lost)} device worker(s) died; their steps ran on the others: "
                   f"{'; '.join(result.devices_lost)}", err=True)
    if result.cache_rejected:
        click.echo(f"qbench: {len(result.cache_rejected)} cache file(s) did not match their recorded sha256 "
                   "(or had none) and were computed again", err=True)
    for m, reason in result.skipped_metrics.items():
        click.echo(f"qbench: metric {m} skipped: {reason}", err=True)
    click.echo(f"qbench: wrote {', '.join(str(f) for f in files)}", err=True)
    _note_other_suites(out, suite.name)
    if result.failures:
        _echo_failures(result, out)
        sys.exit(1)
    if strict and result.skipped_metrics:
        click.echo(f"qbench: error: --strict: {len(result.skipped_metrics)} metric(s) or diagnostic(s) skipped: "
                   f"{', '.join(sorted(result.skipped_metrics))}", err=True)
        sys.exit(3)


def _echo_failures(result, out: Path, limit: int = 20) -> None:
    """One line per (stage, component, error, where) with its count, not one per sample."""
    groups = sorted(result.failure_groups.items(), key=lambda kv: -kv[1][0])
    click.echo(f"qbench: {len(result.failures)} failure(s) of {len(groups)} kind(s) "
               f"(tracebacks in the Failures section of {out / 'leaderboard.md'}):", err=True)
    for (stage, component, error, where), (count, first, _) in groups[:limit]:
        who = f" {component}" if component else ""
        times = f" ×{count}" if count > 1 else ""
        at = f" at {where}" if where else ""
        click.echo(f"  [{stage}]{who}{times}: {error}{at} (first: {first})", err=True)
    if len(groups) > limit:
        click.echo(f"  … {len(groups) - limit} more kinds in {out / 'leaderboard.md'}", err=True)


@main.command()
@click.argument("suite_file", type=click.Path(dir_okay=False, path_type=Path))
@_handle_errors
def validate(suite_file: Path) -> None:
    """Check SUITE_FILE: schema, component names and parameters (no computation).

    Every problem is reported in one pass; missing weight files are warnings (the run skips
    those metrics and fails those solvers' jobs)."""
    from .runner.resolve import resolve_file

    resolved = resolve_file(suite_file)
    suite = resolved.suite
    for path, note in resolved.notes.items():
        click.echo(f"{suite_file}: warning: {path} {note}", err=True)
    n_points = sum(len(c.points) for c in suite.codecs)
    click.echo(f"{suite_file}: ok — suite {suite.name} ({suite.hash()}): {len(suite.datasets)} dataset(s), "
               f"{n_points} codec point(s), {len(suite.solvers)} solver(s), {len(suite.metrics)} metric(s)")


@main.command()
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("dist", type=click.Path(path_type=Path))
@click.option("--metrics", "metric_names", default="psnr_rgb,psnr_y,ssim_y", show_default=True,
              help="comma-separated metric presets, as in a suite's metrics: (fid/kid need two folders)")
@click.option("--crop-border", type=click.IntRange(min=0), default=None,
              help="pixels cut from each side before measuring (default: each preset's own)")
@click.option("--mode", type=click.Choice(["auto", "rgb", "gray"]), default="auto", show_default=True,
              help="channel policy both sides are read with (as a dataset's mode)")
@click.option("--recursive", is_flag=True, help="folders: match images in subfolders too (by relative path)")
@click.option("--device", default="auto", show_default=True, help="where FID/KID features are computed")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the per-image values to this CSV file")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write per-image values, means and set-level values to this JSON file")
@_handle_errors
def measure(ref: Path, dist: Path, metric_names: str, crop_border: int | None, mode: str, recursive: bool,
            device: str, csv_path: Path | None, json_path: Path | None) -> None:
    """Measure DIST against REF: two images, or two folders matched by file stem.

    Prints one row per image and their mean, then the set-level values; the metric presets and
    code are those of a suite run, so the values are the ones a run would store."""
    import csv
    import json

    from tabulate import tabulate

    from .measure import match_pairs, measure_pairs

    names = [n.strip() for n in metric_names.split(",") if n.strip()]
    pairs = match_pairs(ref, dist, recursive)
    res = measure_pairs(pairs, names, crop_border, mode, device)
    arrow = {True: " ↑", False: " ↓"}
    if res.metrics:
        rows = [[p.name, *(res.values[p.name][m] for m in res.metrics)] for p in res.pairs]
        if len(rows) > 1:
            rows.append([f"mean ({len(rows)})", *res.mean().values()])
        click.echo(tabulate(rows, headers=["image", *(m + arrow[res.higher_is_better[m]] for m in res.metrics)],
                            floatfmt=".4f", tablefmt="github"))
    for m, v in res.set_values.items():
        click.echo(f"{m}{arrow[res.higher_is_better[m]]} ({len(res.pairs)} images): {v:.4f}")
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "ref", "dist", *res.metrics])
            for p in res.pairs:
                w.writerow([p.name, p.ref, p.dist, *(repr(res.values[p.name][m]) for m in res.metrics)])
        click.echo(f"qbench: wrote {csv_path}", err=True)
    if json_path:
        json_path.write_text(json.dumps(res.as_json(), indent=1))
        click.echo(f"qbench: wrote {json_path}", err=True)


@main.command(name="ls")
@click.argument("what", type=click.Choice(["solvers", "codecs", "metrics", "datasets", "diagnostics",
                                           "stratifiers"]))
@_handle_errors
def ls_cmd(what: str) -> None:
    """List registered components (built-in and from entry points)."""
    from importlib import import_module

    if what == "stratifiers":
        from .diagnostics import STRATIFIERS as reg
    else:
        reg = import_module(f"qbench.{what}").REGISTRY
    for name in reg.names():
        click.echo(f"{name:24s} {reg.origin(name)}")


def _note_other_suites(out: Path, name: str) -> None:
    """Say so when a results folder also holds other suites (their reports were just replaced)."""
    from .report.data import suites_in

    others = [s for s in suites_in(out) if s.name != name]
    if others:
        listed = ", ".join(f"{s.name} (run {s.latest_run})" for s in others)
        click.echo(f"qbench: note: {out} also holds results of {listed}; the reports there are now for "
                   f"{name}; 'qbench report {out} --suite NAME' rewrites them for another suite", err=True)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "formats", multiple=True,
              type=click.Choice(["md", "csv", "json", "html", "plots", "compressai", "latex"]),
              help="formats to write (repeatable; default md, csv, json, html, plots); compressai: one "
                   "CompressAI-format JSON per curve under OUT_DIR/compressai/<dataset>/; latex: "
                   "leaderboard.tex, booktabs tables (best bold, second underlined) and the BD-rate table")
@click.option("--run", "run_id", type=int, default=None, help="report this run (see the store's runs table)")
@click.option("--suite", default=None,
              help="report the latest run of this suite (its name, or the first 6+ characters of its hash)")
@click.option("--to", "dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="write the documents here instead of OUT_DIR (e.g. when OUT_DIR is read-only)")
@_handle_errors
def report(out_dir: Path, formats: tuple[str, ...], run_id: int | None, suite: str | None, dest: Path | None) -> None:
    """Rebuild the leaderboard and tables of OUT_DIR from its results store (opened read-only).

    Without --run or --suite: the latest run; when OUT_DIR holds several suites this is said,
    with the others listed.
    """
    from .report import write_reports
    from .report.data import select_run, suites_in

    chosen = select_run(out_dir, run_id, suite)
    if run_id is None and suite is None:
        known = suites_in(out_dir)
        if len(known) > 1:
            listed = ", ".join(f"{s.name} (latest run {s.latest_run})" for s in known)
            click.echo(f"qbench: note: {out_dir} holds results of {len(known)} suites: {listed}; reporting "
                       f"the latest run ({chosen}, {known[0].name}); choose with --suite NAME or --run ID",
                       err=True)
    with _writing(dest or out_dir, hint=" (--to DIR writes them elsewhere)"):
        files = write_reports(out_dir, tuple(formats) or ("md", "csv", "json", "html", "plots"), run_id=chosen,
                              dest=dest)
    for f in files:
        click.echo(str(f))


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--images", "dest", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="write DIR/<dataset>/<codec>_<setting>/<solver>/<image>.png here")
@click.option("--solvers", default="", help="only these solvers (comma-separated labels)")
@click.option("--datasets", default="", help="only these datasets (comma-separated labels)")
@click.option("--run", "run_id", type=int, default=None, help="export this run (default: the latest)")
@_handle_errors
def export(out_dir: Path, dest: Path, solvers: str, datasets: str, run_id: int | None) -> None:
    """Write the output images of OUT_DIR's run as a named tree (hard links where the filesystem
    allows, else copies); samples whose image is not on disk are counted."""
    from .report.outputs import export_images

    names = lambda text: tuple(n.strip() for n in text.split(",") if n.strip())  # noqa: E731
    with _writing(dest):
        done = export_images(out_dir, dest, names(solvers), names(datasets), run_id)
    click.echo(f"{len(done.written)} images written under {dest} ({done.linked} linked, "
               f"{len(done.written) - done.linked} copied)")
    if done.missing:
        click.echo(f"qbench: note: {len(done.missing)} outputs have no image on disk (pass-through rows of "
                   f"library codecs, whose decoded images are not kept), e.g. {done.missing[0]}", err=True)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@_handle_errors
def verify(run_dir: Path) -> None:
    """Check every cache file of results folder RUN_DIR against the sha256 its store recorded.

    Exit 0 when all are intact, 3 listing each missing, damaged or unrecorded file (a run
    recomputes them). Opens the store read-only.
    """
    from .cachefile import verify_folder
    from .errors import CacheError

    checked, problems = verify_folder(run_dir)
    for path, state, what in problems:
        click.echo(f"{state:10s} {path} ({what})")
    if problems:
        raise CacheError(f"{len(problems)} of {checked} cache file(s) in {run_dir} are missing, damaged or "
                         "unrecorded; 'qbench run' computes them again")
    click.echo(f"qbench: all {checked} cache files in {run_dir} match their recorded sha256", err=True)


@main.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="suite: the results folder (default runs/<suite name>/); results folder: where the "
                   "documents go (default: that folder)")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N (suite only)")
@click.option("--workers", type=WORKERS, default=None,
              help="CPU worker processes (suite only; 0 = in-process; -1 = one per core)")
@click.option("--fresh", is_flag=True, help="discard the stored results and cache and start over (suite only)")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="folder holding built-in datasets as <name>/ (suite only)")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--strict", is_flag=True,
              help="suite only: exit 3 when a metric or diagnostic was skipped, after the run and its documents")
@_handle_errors
def diagnose(target: Path, out_dir: Path | None, device: str, workers: int | None, fresh: bool,
             data_root: str | None, quiet: bool, strict: bool) -> None:
    """Write diagnostics.md/.html/.json for TARGET: a results folder (render only) or a suite file
    (run it first, with its diagnostics, like 'qbench run'; metrics whose weights are absent are
    skipped with the reason, and fail with exit 3 under --strict)."""
    from .report.diagnose import write_diagnostics

    if not target.is_dir():
        _run_and_report(target, out_dir, device=device, workers=workers, fresh=fresh, data_root=data_root,
                        quiet=quiet, diagnostics=True, strict=strict)
        return
    for f in write_diagnostics(target, out_dir):
        click.echo(str(f))


@main.group()
def data() -> None:
    """Built-in datasets: where they are looked for, verification and download."""


@data.command(name="path")
@click.argument("name")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@_handle_errors
def data_path(name: str, data_root: str | None) -> None:
    """Print the folder where dataset NAME is looked for."""
    from .datasets.builtin import SOURCES, PinnedDataset

    if name not in SOURCES:
        from .errors import RegistryError
        raise RegistryError(f"{name!r} is not a downloadable built-in dataset; choose from {sorted(SOURCES)}")
    click.echo(str(PinnedDataset(name, data_root_override=data_root).folder))


@data.command(name="verify")
@click.argument("name")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@_handle_errors
def data_verify(name: str, data_root: str | None) -> None:
    """Check that every file of NAME is present and matches its pinned pixel hash."""
    from .datasets.builtin import PinnedDataset

    ds = PinnedDataset(name, data_root_override=data_root)
    recs = ds.records()
    pinned = 0
    for rec in recs:
        ds.load(rec)
        pinned += bool(rec.expected_hash)
    if not ds.manifest_pinned:
        click.echo(f"{name}: {len(recs)} images in {ds.folder}, UNVERIFIED: no pixel-hash manifest pinned "
                   f"for {name} (files checked by name/count only; 'qbench data manifest {name}' writes one)")
        return
    click.echo(f"{name}: {len(recs)} images in {ds.folder}, {pinned} verified against pinned pixel hashes")


@data.command(name="fetch")
@click.argument("name")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@_handle_errors
def data_fetch(name: str, data_root: str | None) -> None:
    """Download dataset NAME into its folder (safe extraction, then verification)."""
    from .datasets.builtin import PinnedDataset
    from .datasets.download import fetch_dataset

    ds = PinnedDataset(name, data_root_override=data_root)
    still = fetch_dataset(ds)
    if still:
        from .errors import DataNotFoundError
        raise DataNotFoundError(ds.where_message())
    for rec in ds.records():
        ds.load(rec)                       # checks pinned pixel hashes, if any
    click.echo(f"{name}: complete in {ds.folder} ({ds.source.integrity(ds.manifest_pinned)})")


@data.command(name="manifest")
@click.argument("name")
@click.option("--data-root", type=click.Path(file_okay=False), default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write here (default: print the JSON)")
@_handle_errors
def data_manifest(name: str, data_root: str | None, output: str | None) -> None:
    """Write the pixel-hash manifest of the local copy of NAME (to pin it in qbench/datasets/manifests/)."""
    import json

    from .datasets.builtin import PinnedDataset, make_manifest

    text = json.dumps(make_manifest(PinnedDataset(name, data_root_override=data_root)), indent=1) + "\n"
    if output:
        Path(output).write_text(text)
        click.echo(f"{name}: manifest written to {output}")
    else:
        click.echo(text, nl=False)


@main.group()
def weights() -> None:
    """Weight files of metrics and solvers: list, locate, verify, download."""


def _select(names: tuple[str, ...]):
    from .catalogue import catalogue
    from .errors import RegistryError

    cat = catalogue()
    if not names:
        return cat
    out = {}
    for n in names:
        hits = {k: wf for k, wf in cat.items()
                if n in (k, wf.filename) or k.startswith(n + "/") or n in k.split("/")}
        if not hits:                       # a bad name (exit 2), not a missing file
            import difflib

            words = sorted({w for k, wf in cat.items() for w in (k, wf.filename, *k.split("/"))})
            near = difflib.get_close_matches(n, words, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(w) for w in near)}?" if near else ""
            raise RegistryError(f"no weight file matches {n!r}{hint} (see 'qbench weights list')")
        out.update(hits)
    return out


@weights.command(name="list")
def weights_list() -> None:
    """Every weight file qbench may use: key, file, pin, size, URL, cache path, state."""
    from .weights import local_path

    for key, wf in sorted(_select(()).items()):
        path = local_path(wf)
        pin = wf.sha256 or (f"{wf.sha256_prefix}… (prefix)" if wf.sha256_prefix else
                            f"git blob {wf.git_blob}" if wf.git_blob else "unpinned")
        size = f"{wf.size} B" if wf.size else "size unknown"
        state = "present" if path.is_file() else "missing"
        url = wf.url or "none (user-trained: place the file at the path)"
        click.echo(f"{key}\n  file {wf.filename} · sha256 {pin} · {size} · {state}\n  url  {url}\n  path {path}")


@weights.command(name="path")
@click.argument("names", nargs=-1)
@_handle_errors
def weights_path(names: tuple[str, ...]) -> None:
    """Print where each weight file is expected."""
    from .weights import local_path

    for key, wf in sorted(_select(names).items()):
        click.echo(f"{key}\t{local_path(wf)}")


@weights.command(name="verify")
@click.argument("names", nargs=-1)
@_handle_errors
def weights_verify(names: tuple[str, ...]) -> None:
    """Check present files against their pins (exit 3 if any present file fails)."""
    from .errors import WeightsError
    from .weights import local_path, verify

    bad = 0
    for key, wf in sorted(_select(names).items()):
        if not local_path(wf).is_file():
            click.echo(f"missing  {key}")
            continue
        try:
            verify(wf)
            click.echo(f"ok       {key}")
        except WeightsError as exc:
            bad += 1
            click.echo(f"BAD      {key}: {exc}")
    if bad:
        raise WeightsError(f"{bad} weight file(s) failed verification")


@weights.command(name="fetch")
@click.argument("names", nargs=-1)
@_handle_errors
def weights_fetch(names: tuple[str, ...]) -> None:
    """Download (with a progress bar) and verify weight files; all of them without NAMES."""
    from .weights import ensure, local_path

    for key, wf in sorted(_select(names).items()):
        if not wf.url and not local_path(wf).is_file():     # user-trained, nothing to download
            click.echo(f"{key}: no download; place the file at {local_path(wf)}")
            continue
        click.echo(f"{key}: {ensure(wf, allow_download=True)}")


def _parse_max_drop(ctx, param, value: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in value:
        name, sep, number = item.partition("=")
        try:
            limit = float(number)
        except ValueError:
            limit = float("nan")
        if not sep or not name.strip() or not limit >= 0 or limit == float("inf"):
            raise click.BadParameter(f"{item!r}: expected METRIC=LIMIT with a finite LIMIT >= 0, "
                                     "e.g. psnr_y=0.3 or lpips=0.01")
        out.append((name.strip(), limit))
    return tuple(out)


def _comparison_options(fn):
    """The options ``compare`` and ``check`` share."""
    for option in reversed([
        click.option("--metric", "metrics", multiple=True, help="compare only this metric (repeatable; bpp too)"),
        click.option("--tol-db", type=float, default=0.02, show_default=True,
                     help="tolerance of metrics in dB (absolute)"),
        click.option("--tol-rel", type=float, default=0.005, show_default=True,
                     help="tolerance of the other metrics and bpp, relative to the reference mean"),
        click.option("--significant", is_flag=True, help="a difference counts only when its 95% CI excludes 0"),
        click.option("--max-drop-db", type=click.FloatRange(min=0), default=None,
                     help="per-image limit: fail when any single image loses more than this many dB in a dB "
                          "metric (off by default)"),
        click.option("--max-drop", "max_drop", multiple=True, callback=_parse_max_drop, metavar="METRIC=LIMIT",
                     help="per-image limit of one metric, in its own unit: fail when any single image loses more "
                          "(a drop of a higher-is-better metric, a rise of a lower-is-better one such as "
                          "lpips or bpp); repeatable, overrides --max-drop-db for that metric"),
        click.option("--fail-on-missing/--allow-missing", "fail_on_missing", default=True, show_default=True,
                     help="values of the reference (a metric, series, codec point or image) absent from the "
                          "other side fail with exit 3 (the default); --allow-missing compares only what both "
                          "sides have"),
        click.option("--bootstrap", type=int, default=1000, show_default=True, help="bootstrap resamples"),
        click.option("--seed", type=int, default=0, show_default=True, help="bootstrap seed"),
        click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True),
        click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="write the comparison to this file instead of stdout"),
    ]):
        fn = option(fn)
    return fn


def _finish_comparison(a, b, metrics, tol_db, tol_rel, significant, max_drop_db, max_drop, fail_on_missing,
                       bootstrap, seed, fmt, output) -> None:
    """Compare, write the result, list what is missing; exit 1 on a regression, 3 on values missing."""
    from .regress.compare import CompareOptions, compare
    from .regress.render import missing_lines, render, summary_line

    opts = CompareOptions(tuple(metrics), tol_db, tol_rel, bootstrap, seed, significant,
                          allow_missing=not fail_on_missing, max_drop_db=max_drop_db, max_drop=max_drop)
    result = compare(a, b, opts)
    _emit(render(result, fmt), output, result.warnings)
    if result.n_missing and fail_on_missing:
        click.echo(f"qbench: missing from {result.b}:", err=True)
        for line in missing_lines(result, 20):
            click.echo(f"  {line}", err=True)
    click.echo(f"qbench: {summary_line(result)}", err=True)
    if result.verdict == "regression":
        sys.exit(1)
    if result.verdict == "missing":
        sys.exit(3)


@main.command()
@click.argument("run_a", type=click.Path(file_okay=False, path_type=Path))
@click.argument("run_b", type=click.Path(file_okay=False, path_type=Path))
@_comparison_options
@_handle_errors
def compare(run_a: Path, run_b: Path, **kw) -> None:
    """Compare results folder RUN_B against RUN_A, image by image.

    Exit 0 when B has every value of A and is nowhere worse beyond tolerance; 1 when it is worse
    (a regression); 3 when values of A are missing from B (unless --allow-missing) or a store is
    missing; 2 for bad input.
    """
    from .regress.values import from_run

    _finish_comparison(from_run(run_a), from_run(run_b), **kw)


@main.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--baseline", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="a committed leaderboard folder holding baseline.csv and baseline.json, or a "
                   "published table (published.json)")
@_comparison_options
@_handle_errors
def check(run: Path, baseline: Path, **kw) -> None:
    """Check results folder RUN against a committed BASELINE (no store needed for the baseline).

    Exit 0 when RUN has every value of the baseline and is nowhere worse beyond tolerance; 1 when
    it is worse (a regression); 3 when values of the baseline are missing from RUN (a metric,
    series, codec point or image; unless --allow-missing) or the store or baseline is missing;
    2 when metric versions differ (the values are not comparable). A BASELINE folder holding
    published.json (a paper's table, leaderboards/literature/) is checked by dataset means within
    each value's stated tolerance: 1 when one differs, 3 when values are missing.
    """
    from .regress.published import is_published

    if is_published(baseline):        # a paper's table: dataset means within its stated tolerance
        ctx = click.get_current_context()
        given = [f"--{name.replace('_', '-')}" for name in _NOT_FOR_PUBLISHED
                 if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
        if given:
            from .errors import ConfigError

            raise ConfigError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to a published table ({baseline}): each of "
                              "its values carries the tolerance its source states, and it holds dataset means, "
                              "not per-image values; --metric, --allow-missing, --format and --output apply")
        _finish_published(run, baseline, kw["fmt"], kw["output"], tuple(kw["metrics"]), not kw["fail_on_missing"])
        return
    from .regress.values import from_baseline, from_run

    _finish_comparison(from_baseline(baseline), from_run(run), **kw)


def _emit(text: str, output: Path | None, warnings) -> None:
    """A comparison's document to ``output`` (or stdout), then its warnings on stderr."""
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    for w in warnings:
        click.echo(f"qbench: warning: {w}", err=True)


#: comparison options with no meaning against a published table (``check`` refuses them there)
_NOT_FOR_PUBLISHED = ("tol_db", "tol_rel", "significant", "max_drop_db", "max_drop", "bootstrap", "seed")


def _finish_published(run: Path, baseline: Path, fmt: str, output: Path | None, metrics: tuple[str, ...] = (),
                      allow_missing: bool = False) -> None:
    from .regress.published import check_published, load_published, render_published, summary_line

    result = check_published(load_published(baseline), run, metrics, allow_missing)
    _emit(render_published(result, fmt), output, result.warnings)
    click.echo(f"qbench: {summary_line(result)}", err=True)
    if result.exit_code:
        sys.exit(result.exit_code)


@main.group()
def leaderboards() -> None:
    """The committed leaderboards under leaderboards/ and their baselines."""


@leaderboards.command(name="regenerate")
@click.argument("names", nargs=-1)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="the repository root holding suites/ and leaderboards/")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="folder holding built-in datasets as <name>/ (default: $QBENCH_DATA)")
@click.option("--workers", type=WORKERS, default=None, help="CPU worker processes (0 = in-process; -1 = one per core)")
@click.option("--device", default="cpu", show_default=True, help="cpu | cuda | cuda:N | auto")
@click.option("--resume", is_flag=True, help="reuse leaderboards/<name>/run/ instead of starting fresh")
@_handle_errors
def leaderboards_regenerate(names: tuple[str, ...], root: Path, data_root: str | None, workers: int | None,
                            device: str, resume: bool) -> None:
    """Rerun suites/<NAME>.yaml and rewrite leaderboards/<NAME>/ (all committed leaderboards without NAMES)."""
    from .leaderboards import leaderboard_names, regenerate

    for name in names or leaderboard_names(root):
        click.echo(f"qbench: regenerating {name}", err=True)
        for f in regenerate(name, root, data_root=data_root, workers=workers, device=device, resume=resume,
                            log=lambda m: click.echo(f"qbench: {m}", err=True)):
            click.echo(str(f))


@leaderboards.command(name="check")
@click.argument("names", nargs=-1)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="the repository root holding suites/ and leaderboards/")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs") / "literature", show_default=True, help="where the runs go (one folder per table)")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="folder holding built-in datasets as <name>/ (default: $QBENCH_DATA)")
@click.option("--workers", type=WORKERS, default=None, help="CPU worker processes (0 = in-process; -1 = one per core)")
@click.option("--device", default="cpu", show_default=True, help="cpu | cuda | cuda:N | auto")
@click.option("--fresh", is_flag=True, help="start the runs over instead of resuming them")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@_handle_errors
def leaderboards_check(names: tuple[str, ...], root: Path, out_root: Path, data_root: str | None,
                       workers: int | None, device: str, fresh: bool, fmt: str) -> None:
    """Reproduce published tables: run each table's suite and check its means against the
    paper's values (NAMES: 'literature' for every table under leaderboards/literature/, or table names).

    Exit 0 when every published value is reproduced within its stated tolerance, 1 when one is
    not, 3 when values are missing (an image failed, a row is absent) or a dataset is missing.
    """
    from .leaderboards import check_literature, literature_names
    from .regress.published import render_published, summary_line

    codes = []
    for name in literature_names(names, root):
        click.echo(f"qbench: reproducing {name}", err=True)
        result = check_literature(name, root, out_root=out_root, data_root=data_root, workers=workers,
                                  device=device, fresh=fresh, log=lambda m: click.echo(f"qbench: {m}", err=True))
        _emit(render_published(result, fmt), None, result.warnings)
        click.echo(f"qbench: {summary_line(result)}", err=True)
        codes.append(result.exit_code)
    if any(codes):
        sys.exit(1 if 1 in codes else 3)


@leaderboards.command(name="ls")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
def leaderboards_ls(root: Path) -> None:
    """List committed leaderboards (those with a suite of the same name) and whether they hold a
    baseline, then the published tables under leaderboards/literature/."""
    from .leaderboards import leaderboard_names

    for name in leaderboard_names(root):
        has = (root / "leaderboards" / name / "baseline.csv").is_file()
        click.echo(f"{name:24s} {'baseline' if has else 'no baseline'}")
    from .regress.published import literature_tables

    for name in literature_tables(root):
        click.echo(f"{'literature/' + name:24s} published table ('qbench leaderboards check {name}')")


_EXIT: list[int] = []      # the exit status of the command, for the quick exit


def _quick_exit() -> None:
    """The last exit handler: flush the standard streams and end the process with the command's
    status, skipping the interpreter's teardown of modules and objects (about 0.25 s after a run
    that loaded numpy, pandas and matplotlib). Every other exit handler has run by then (they run
    in reverse order of registration, and :func:`entry` registers this one first), and non-daemon
    threads were joined before them; the store and every written file are closed by the
    commands themselves."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(_EXIT[-1])


def entry() -> None:
    """The ``qbench`` console command: :func:`main` with a quick exit (:func:`_quick_exit`) once
    it has returned or exited with a status. An uncaught exception (a traceback, status 1) or
    Ctrl-C outside a command ends the usual way."""
    import atexit

    atexit.register(_quick_exit)
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            _EXIT.append(code or 0)
        else:                       # sys.exit("message"): Python prints it, status 1
            _EXIT.append(1)
        raise
    except BaseException:
        atexit.unregister(_quick_exit)
        raise
    _EXIT.append(0)


if __name__ == "__main__":  # pragma: no cover
    entry()
