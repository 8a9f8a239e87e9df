"""Suite -> components: codecs (library or learned), solvers with their parameters, metrics.

Every name and parameter set is checked here, so ``qbench validate`` catches what ``run`` would
stumble on. Learned codecs are solvers registered under ``qbench.solvers`` and are listed under a
suite's ``codecs:``; they are wrapped in the codec contract (:mod:`qbench.pipelines.learned_codec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import codecs as codec_mod
from .. import datasets as dataset_mod
from .. import metrics as metric_mod
from .. import solvers as solver_mod
from ..codecs import Codec
from ..errors import ConfigError, QbenchError, RegistryError, SuiteError, WeightsError
from ..metrics import Metric
from ..pipelines import LearnedCodecCodec
from ..solvers import LearnedCodec, Solver
from ..suite import CodecSpec, SolverSpec, Suite


@dataclass
class CodecEntry:
    """A built codec of the suite with its label and ladder (qualities, or target bpp values)."""

    label: str
    codec: Codec
    points: list[float]
    target: bool
    spec_name: str = ""          # the suite's name for it (registered name or import string)


@dataclass
class Components:
    """Everything a suite names, built: codecs, solvers, metrics, set metrics and diagnostics."""

    codecs: list[CodecEntry]
    solvers: list[tuple[str, Solver]]
    metrics: list[Metric]                      # per-image metrics
    set_metrics: list[Metric]                  # set-level (FID/KID)
    skipped: dict[str, str] = field(default_factory=dict)   # metric key -> reason
    diagnostics: list = field(default_factory=list)          # per-image triplet diagnostics


def build_codec(spec: CodecSpec) -> Codec:
    """A library codec by name, else a registered learned codec wrapped as a codec."""
    try:
        codec = codec_mod.build(spec.name, spec.params, spec.qualities)
    except (RegistryError, ConfigError) as exc:    # not a library codec: a learned one?
        try:
            cls = solver_mod.resolve(spec.name)
        except QbenchError:
            raise exc from None
        if not issubclass(cls, LearnedCodec):
            raise ConfigError(f"{spec.name!r} is a {cls.card.task} solver, not a codec; list it under solvers:") from None
        codec = LearnedCodecCodec(cls(**spec.params))
        for q in spec.qualities or ():
            codec.check_quality(q)
    return codec


def build_solver(spec: SolverSpec) -> Solver:
    """The solver of a suite entry; a learned codec listed as a solver raises :class:`ConfigError`."""
    cls = solver_mod.resolve(spec.name)
    if issubclass(cls, LearnedCodec):
        raise ConfigError(f"{spec.name!r} is a learned codec: list it under codecs: "
                          f"(e.g. {{name: {spec.name}, qualities: {list(cls.qualities)[:3]}}})")
    return solver_mod.build(spec.name, spec.params, spec.engine.model_dump() if spec.engine is not None else None)


@dataclass
class Resolved:
    """A checked suite with its components, each built once: what the Runner takes.

    ``notes``: what a run would skip or fail for want of weight files (key path -> reason)."""

    suite: Suite
    components: Components
    datasets: list[tuple[str, Any]]                 # (label, Dataset), built with the run's data root
    notes: dict[str, str] = field(default_factory=dict)


def resolve(suite: Suite, source: str = "<suite>", data_root: str | None = None) -> Resolved:
    """Check every component name and parameter set and build each once; raise
    :class:`SuiteError` listing every problem with its key path. Loads no solver weights and
    lists no data (datasets are built under ``data_root``, their images listed by the run).

    Metrics and diagnostics without their weight files are skipped (their reasons are in
    ``components.skipped``), solvers and learned codecs without them fail their jobs; neither
    stops a run, so they are notes, not errors."""
    problems, notes, built = _entry_problems(
        list(enumerate(suite.datasets)), list(enumerate(suite.codecs)), list(enumerate(suite.solvers)),
        list(enumerate(suite.metrics)), list(enumerate(suite.diagnostics.per_image)), data_root)
    if not suite.codecs:
        problems.append("codecs: the suite needs at least one codec (library or learned)")
    if suite.references:
        from ..references import check_suite_references

        problems += check_suite_references(suite)
    if problems:
        raise SuiteError(source, problems)
    return Resolved(suite, _components(suite, built), [(d.label, built["datasets"][i])
                                                       for i, d in enumerate(suite.datasets)], notes)


def resolve_suite(suite: Suite, source: str = "<suite>") -> dict[str, str]:
    """:func:`resolve`'s notes (key path -> reason); raises :class:`SuiteError` like it."""
    return resolve(suite, source).notes


def _components(suite: Suite, built: dict[str, dict]) -> Components:
    """The run's components from the entries :func:`_entry_problems` built (none failed)."""
    codecs = [CodecEntry(c.key, built["codecs"][i], c.points, c.target_bpp is not None, c.name)
              for i, c in enumerate(suite.codecs)]
    solvers = [built["solvers"][i] for i in range(len(suite.solvers))]
    metrics: list[Metric] = []
    skipped: dict[str, str] = {}
    for i, m in enumerate(suite.metrics):
        if i in built["metrics"]:
            metrics.append(built["metrics"][i])
        else:
            skipped[m.key] = built["skipped"][f"metrics[{i}].name"]
    diagnostics = []
    for i, d in enumerate(suite.diagnostics.per_image):
        if i in built["per_image"]:
            diagnostics.append(built["per_image"][i])
        else:
            skipped[d.key] = built["skipped"][f"diagnostics.per_image[{i}]"]
    return Components(codecs, list(zip(solver_labels(suite, solvers), solvers)),
                      [m for m in metrics if m.kind != "distribution"],
                      [m for m in metrics if m.kind == "distribution"], skipped, diagnostics)


def check_suite_file(path: str | Path) -> tuple[Suite, dict[str, str]]:
    """The suite and notes of :func:`resolve_file`."""
    resolved = resolve_file(path)
    return resolved.suite, resolved.notes


def check_suite_data(data: Any, source: str = "<suite>", source_dir: Path | None = None
                     ) -> tuple[Suite, dict[str, str]]:
    """The suite and notes of :func:`resolve_data`."""
    resolved = resolve_data(data, source, source_dir)
    return resolved.suite, resolved.notes


def resolve_file(path: str | Path, data_root: str | None = None) -> Resolved:
    """:func:`resolve_data` of a suite file (what ``qbench validate`` and ``run`` check): its
    import strings resolve against its folder too, and reference paths are relative to it."""
    from ..registry import add_import_root
    from ..suite import read_suite_data

    path = Path(path)
    data = read_suite_data(path)
    add_import_root(path.parent)
    return resolve_data(data, str(path), path.parent, data_root)


def resolve_data(data: Any, source: str = "<suite>", source_dir: Path | None = None,
                 data_root: str | None = None) -> Resolved:
    """Validate parsed suite data in one pass: the schema, the checks across entries and every
    component of every entry that parses on its own, so one mistake never hides another.
    Returns what :func:`resolve` returns; raises :class:`SuiteError` with every problem found."""
    from ..suite import DatasetSpec, DiagnosticSpec, MetricSpec, _shorthand, parse_suite

    try:
        suite = parse_suite(data, source)
    except SuiteError as exc:
        schema = exc.problems
    else:
        suite._source_dir = source_dir          # reference files are relative to the suite's folder
        return resolve(suite, source, data_root)
    if not isinstance(data, dict):
        raise SuiteError(source, schema)

    def entries(key, model, shorthand=True, container=None):
        raw = (container if container is not None else data).get(key)
        out = []
        for i, e in enumerate(raw if isinstance(raw, list) else []):
            try:
                out.append((i, model.model_validate(_shorthand(e) if shorthand else e)))
            except Exception:          # malformed: the schema's messages already name it
                continue
        return out

    diags = data.get("diagnostics") if isinstance(data.get("diagnostics"), dict) else {}
    problems, _, _ = _entry_problems(entries("datasets", DatasetSpec), entries("codecs", CodecSpec, False),
                                  entries("solvers", SolverSpec), entries("metrics", MetricSpec),
                                  entries("per_image", DiagnosticSpec, container=diags))
    raise SuiteError(source, schema + problems)


def _entry_problems(datasets, codecs, solvers, metrics, per_image, data_root: str | None = None
                    ) -> tuple[list[str], dict[str, str], dict[str, dict]]:
    """Build each (index, spec) entry; (problems, notes on missing weights, what was built by
    kind and index, with ``skipped``: key path -> reason) with key paths."""
    problems: list[str] = []
    notes: dict[str, str] = {}
    built: dict[str, dict] = {"datasets": {}, "codecs": {}, "solvers": {}, "metrics": {}, "per_image": {},
                              "skipped": {}}

    def check(fn, path: str, skippable: bool = False) -> object | None:
        try:
            return fn()
        except WeightsError as exc:
            if skippable:
                notes[path] = f"will be skipped: {exc}"
                built["skipped"][path] = str(exc)
            else:
                problems.append(f"{path}: {exc}")
        except ConfigError as exc:
            problems.append(f"{path}.params.{exc.key}: {exc}" if exc.key else f"{path}: {exc}")
        except QbenchError as exc:
            problems.append(f"{path}: {exc}")
        return None

    def keep(kind: str, i: int, obj) -> None:
        if obj is not None:
            built[kind][i] = obj

    for i, d in datasets:
        keep("datasets", i, check(lambda d=d: dataset_mod.build(d.name, d.params, d.mode, d.limit, data_root),
                                  f"datasets[{i}]"))
    for i, c in codecs:
        codec = check(lambda c=c: build_codec(c), f"codecs[{i}]")
        keep("codecs", i, codec)
        if isinstance(codec, LearnedCodecCodec):
            _note_missing_weights(codec.solver, f"codecs[{i}]", notes, c.qualities)
    for i, s in solvers:
        try:
            solver_mod.resolve(s.name)
        except QbenchError as exc:
            problems.append(f"solvers[{i}].name: {exc}")
            continue
        solver = check(lambda s=s: build_solver(s), f"solvers[{i}]")
        keep("solvers", i, solver)
        if solver is not None:
            _note_missing_weights(solver, f"solvers[{i}]", notes)
    for i, m in metrics:
        keep("metrics", i, check(lambda m=m: metric_mod.build(m.name, crop_border=m.crop_border),
                                 f"metrics[{i}].name", True))
    for i, d in per_image:
        keep("per_image", i, check(lambda d=d: build_diagnostic(d), f"diagnostics.per_image[{i}]", True))
    return problems, notes, built


def _note_missing_weights(solver: Solver, path: str, notes: dict[str, str], qualities=None) -> None:
    """A note when weight files of ``solver``'s card are absent: the run fails the jobs needing
    them (a learned codec with one file per quality: only the suite's qualities count)."""
    from ..weights import local_path

    try:
        files = solver.needed_weights(qualities)
    except Exception:                      # a quality it does not know: reported elsewhere
        files = list(solver.card.weights)
    missing = [wf for wf in files if not local_path(wf).is_file()]
    if not missing:
        return
    first = local_path(missing[0])
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    name = solver.card.name
    fetch = (f", 'qbench weights fetch {name}' downloads them where the network is reachable"
             if all(getattr(wf, "url", "") for wf in missing) else "; place them there by hand")
    notes[path] = (f"will fail the jobs that need its missing weights: {len(missing)} of "
                   f"{len(files)} file(s) absent ({missing[0].filename} at {first}{more}; "
                   f"'qbench weights path {name}' lists them{fetch})")


def build_components(suite: Suite, device: str) -> Components:
    """:func:`resolve`'s components, with the metrics set to run on ``device``."""
    comps = resolve(suite).components
    for m in comps.metrics + comps.set_metrics:
        m.device = device
    return comps


def solver_labels(suite: Suite, solvers: list[Solver]) -> list[str]:
    """The label of each solver in reports: the suite's ``label``, else its name; an unlabelled
    import-string solver (``my_pkg.sharpen:Sharpen``) goes by its card name, unless another
    solver of the suite already goes by that name."""
    keys = [s.key for s in suite.solvers]
    out: list[str] = []
    for spec, solver in zip(suite.solvers, solvers):
        label = spec.key
        if spec.label is None and ":" in spec.name:
            card = solver.card.name
            if card and card not in keys and card not in out:
                label = card
        out.append(label)
    return out


def build_diagnostic(spec):
    """A suite's ``diagnostics.per_image`` entry as a :class:`qbench.diagnostics.TripletDiagnostic`."""
    from .. import diagnostics

    return diagnostics.build(spec.name, spec.params, spec.label)


def describe_components(suite: Suite, comps: Components, pipelines: dict[str, str]) -> list[tuple[str, str, dict]]:
    """Rows for the store's ``components`` table: what reports need, so they never import registries,
    and each component's code identity (what :func:`changed_components` compares with the next run)."""
    from ..codeid import code_identity

    rows: list[tuple[str, str, dict[str, Any]]] = []
    for m in comps.metrics + comps.set_metrics:
        rows.append(("metric", m.key, {"name": m.name, "higher_is_better": m.info.higher_is_better,
                                       "kind": m.kind, "version": m.version, "unit": m.info.unit,
                                       "description": m.info.description, **code_identity(m)}))
    for d in comps.diagnostics:
        rows.append(("diagnostic", d.label, {"name": d.name, "version": d.version, "params": d.params,
                                             "values": d.value_names(), "description": d.description,
                                             **code_identity(d)}))
    for label, solver in comps.solvers:
        spec = solver.spec()
        rows.append(("solver", label, {"name": solver.card.name, "task": solver.card.task,
                                       "blind": solver.card.blind, "pipeline": pipelines.get(label, ""),
                                       "passthrough": bool(getattr(solver, "passthrough", False)),
                                       "spec_hash": solver.spec_hash(), "code": spec["code"],
                                       "dist": spec["dist"], "solver_version": solver.version}))
    for c in comps.codecs:
        spec = c.codec.spec()
        rows.append(("codec", c.label, {"name": c.codec.name, "learned": c.codec.device_bound,
                                        "target": c.target, "points": c.points, "spec_hash": c.codec.spec_hash(),
                                        "code": spec["code"], "dist": spec["dist"],
                                        "knob": c.codec.knob() if hasattr(c.codec, "knob") else ""}))
    if suite.references:
        from ..references import suite_references

        rows += [("reference", ref.label, ref.record()) for ref in suite_references(suite)]
    return rows


#: what is recomputed when a component of each kind changes
_RECOMPUTED = {"solver": "its outputs are recomputed", "codec": "its bitstreams (and what follows) are recomputed",
               "metric": "its values are recomputed", "diagnostic": "its values are recomputed"}


def changed_components(before: dict[str, dict[str, dict]], rows: list[tuple[str, str, dict]]) -> list[str]:
    """One line per component whose identity differs from the stored results' (``before``: the
    store's components table of the same suite): edited code, another distribution version, a
    bumped ``version``. Components new to the suite are not listed; a store written before code
    identities were recorded gets one line saying everything is computed again."""
    lines = []
    if any("code" not in old for kind, kinds in before.items() if kind in _RECOMPUTED for old in kinds.values()):
        return ["the stored results were written before cache keys held each component's code identity; "
                "they are computed again once"]
    for kind, label, info in rows:
        old = before.get(kind, {}).get(label)
        if old is None or kind not in _RECOMPUTED:        # published references carry no code
            continue
        what = []
        if old.get("dist") != info.get("dist"):
            was = ", ".join(old.get("dist") or []) or "not installed"
            now = ", ".join(info.get("dist") or []) or "not installed"
            what.append(f"distribution {was} -> {now}")
        if old["code"] != info.get("code"):
            what.append("code changed")
        if kind == "solver" and old.get("solver_version") != info.get("solver_version"):
            what.append(f"version {old.get('solver_version')} -> {info.get('solver_version')}")
        if what:
            lines.append(f"{kind} {label}: {', '.join(what)} since the stored results; {_RECOMPUTED[kind]}")
    return lines
