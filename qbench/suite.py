"""Suite files: YAML -> typed, validated :class:`Suite`, and the canonical suite hash.

Unknown keys are rejected. Errors name the file, the key path (``codecs[0].qualitys``) and the
nearest valid key. Component names and parameters are checked against the registries by
:func:`qbench.runner.resolve.resolve_suite`; this module is the schema only.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .errors import SuiteError
from .vocabulary import COMPRESSED, ENHANCED, ORIGINAL

Number = Union[int, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _shorthand(value: Any) -> Any:
    """Allow ``- identity`` as shorthand for ``- {name: identity}``."""
    return {"name": value} if isinstance(value, str) else value


class DatasetSpec(_Strict):
    """A dataset entry: a registered dataset name (``kodak``) or ``folder`` with a path."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    mode: Literal["auto", "rgb", "gray"] = "auto"
    limit: int | None = Field(default=None, ge=1)

    @property
    def label(self) -> str:
        """The dataset's name in reports: a folder dataset's folder name, else its registered name."""
        if self.name == "folder" and "path" in self.params:
            return Path(str(self.params["path"])).name or self.name
        return self.name


class CodecSpec(_Strict):
    """A codec with its fixed parameters and its quality ladder."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    qualities: list[Number] | None = Field(default=None, min_length=1)
    target_bpp: list[float] | None = Field(
        default=None, min_length=1, description="per-image rate targets instead of a quality ladder")
    label: str | None = None

    @model_validator(mode="after")
    def _one_ladder(self) -> "CodecSpec":
        if (self.qualities is None) == (self.target_bpp is None):
            raise ValueError("give exactly one of 'qualities' (a quality ladder) or 'target_bpp' (rate targets)")
        if self.target_bpp is not None and any(t <= 0 for t in self.target_bpp):
            raise ValueError("target_bpp values must be positive")
        return self

    @property
    def key(self) -> str:
        """The codec's label, else its name."""
        return self.label or self.name

    @property
    def points(self) -> list[float]:
        """The ladder: qualities, or target bpp values in target mode."""
        return [float(v) for v in (self.qualities if self.qualities is not None else self.target_bpp)]


class EngineSpec(_Strict):
    """How a solver's network is run (``qbench.solvers.engine``); any key may be left out."""

    batch_size: int = Field(default=1, ge=1, description="same-size images per solver call")
    tile: int | None = Field(default=None, ge=8, description="tile side in input pixels; none = whole image")
    overlap: int = Field(default=32, ge=0, description="overlap between neighbouring tiles, pixels")
    amp: Literal["fp16", "bf16"] | None = Field(default=None, description="autocast dtype; none = fp32")

    @model_validator(mode="after")
    def _tile_exceeds_overlap(self) -> "EngineSpec":
        if self.tile is not None and self.tile <= 2 * self.overlap:
            raise ValueError(f"engine.tile ({self.tile}) must exceed twice the overlap ({self.overlap})")
        return self


class SolverSpec(_Strict):
    """A solver by registered name or import string (``my_pkg.mod:MySolver``)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    engine: EngineSpec | None = Field(default=None, description="batching, tiling and AMP options")
    label: str | None = None

    @property
    def key(self) -> str:
        """The solver's label, else its name."""
        return self.label or self.name


class MetricSpec(_Strict):
    """A metric preset name, optionally with overrides such as ``crop_border``."""

    name: str
    crop_border: int | None = Field(default=None, ge=0)

    @property
    def key(self) -> str:
        """The metric's name, with ``@cropN`` when a border crop is set."""
        if self.crop_border:
            return f"{self.name}@crop{self.crop_border}"
        return self.name


class ReferenceSpec(_Strict):
    """A published RD curve (:mod:`qbench.references`): a CompressAI-format results JSON or a CSV of
    points, and the suite dataset it was measured on."""

    path: str = Field(description="the file, relative to the suite's folder (or the working directory)")
    dataset: str = Field(description="the suite dataset (label) the curve was measured on")
    label: str | None = Field(default=None, description="its name in reports and as an anchor; default: file stem")

    @property
    def key(self) -> str:
        """The reference's label, else the file's stem."""
        return self.label or Path(self.path).stem


Role = Literal[ORIGINAL, COMPRESSED, ENHANCED]


class DiagnosticSpec(_Strict):
    """A per-image triplet diagnostic (``qbench.diagnostics``) with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @property
    def key(self) -> str:
        """The diagnostic's label, else its name."""
        return self.label or self.name


class DiagnosticsSpec(_Strict):
    """Passes over image roles beyond the leaderboard's original-vs-output measurements."""

    per_image: list[DiagnosticSpec] = Field(
        default_factory=list, description="triplet diagnostics of each sample's (original, compressed, "
        "enhanced) images, e.g. [residual, region_defocus, region_texture]")
    _shorthand_per_image = field_validator("per_image", mode="before")(
        lambda v: [_shorthand(x) for x in v] if isinstance(v, list) else v)

    set_pairs: list[tuple[Role, Role]] = Field(
        default_factory=list, description="extra (reference role, test role) pairs for set-level metrics "
        "such as FID, e.g. [[original, compressed], [compressed, enhanced]] for the FID triangle")


class OutputSpec(_Strict):
    """Where results go and how outputs are measured and summarised."""

    dir: str | None = None
    quantize: bool = Field(default=True, description="clamp to [0,1] and round to uint8 before metrics")
    bootstrap: int = Field(default=1000, ge=0, description="bootstrap resamples for confidence intervals")
    bd_bootstrap: int = Field(default=200, ge=0, description="bootstrap resamples for BD-rate intervals")
    keep_images: bool = Field(default=True, description="keep decoded and restored images in the cache")
    keep_decoded: bool = Field(default=False, description="keep the decoded images of library codecs too (a "
                               "learned codec's always are), so that exports and per_image.csv have them")
    cost_probe: int = Field(default=128, ge=16, le=4096, description="side in pixels of the probe image "
                            "solver and learned-codec latency is measured on")
    cost_repeats: int = Field(default=7, ge=1, le=1000, description="timed calls (after two warm-up calls) "
                              "whose median is the latency")


def stored_setting(suite: dict[str, Any], name: str) -> Any:
    """A setting of a suite as stored with a run (its JSON dump): ``seed`` or a key of ``output``;
    the schema's default where the stored suite lacks it. Reports read settings only through this."""
    if name == "seed":
        return suite.get("seed", Suite.model_fields["seed"].default)
    return (suite.get("output") or {}).get(name, OutputSpec.model_fields[name].default)


class ReportSpec(_Strict):
    examples: list[str] = Field(default_factory=list, description="images (names as in per_image.csv) shown "
                                "as visual comparison panels besides the one chosen automatically")


class Suite(_Strict):
    """A whole experiment: datasets x codec points x solvers, measured by metrics."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)   # a folder name: runs/<name>/
    description: str = ""
    datasets: list[DatasetSpec] = Field(min_length=1)
    codecs: list[CodecSpec] = Field(default_factory=list)
    solvers: list[SolverSpec] = Field(min_length=1)
    metrics: list[MetricSpec] = Field(min_length=1)
    references: list[ReferenceSpec] = Field(
        default_factory=list, description="published RD curves drawn beside the measured ones (may be anchors)")
    anchor: str | list[str] | None = Field(
        default=None, description="codec or reference label (or labels) that BD-rate is measured against")
    diagnostics: DiagnosticsSpec = Field(default_factory=DiagnosticsSpec)
    primary: str | None = Field(
        default=None, description="metric label the report ranks solvers by (default: the first metric)")
    report: ReportSpec = Field(default_factory=ReportSpec)
    seed: int = 0
    output: OutputSpec = Field(default_factory=OutputSpec)
    _source_dir: Path | None = PrivateAttr(default=None)

    @property
    def source_dir(self) -> Path | None:
        """The folder of the file the suite was read from (None when parsed from data)."""
        return self._source_dir

    _shorthand_datasets = field_validator("datasets", mode="before")(
        lambda v: [_shorthand(x) for x in v] if isinstance(v, list) else v)
    _shorthand_solvers = field_validator("solvers", mode="before")(
        lambda v: [_shorthand(x) for x in v] if isinstance(v, list) else v)
    _shorthand_metrics = field_validator("metrics", mode="before")(
        lambda v: [_shorthand(x) for x in v] if isinstance(v, list) else v)

    @model_validator(mode="after")
    def _unique_labels(self) -> "Suite":
        for what, keys in (("codecs", [c.key for c in self.codecs]),
                           ("solvers", [s.key for s in self.solvers]),
                           ("metrics", [m.key for m in self.metrics]),
                           ("datasets", [d.label for d in self.datasets]),
                           ("diagnostics.per_image", [d.key for d in self.diagnostics.per_image]),
                           ("codecs and references", [c.key for c in self.codecs] + [r.key for r in self.references])):
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"duplicate {what} entries {dup}: give each a distinct 'label'")
        anchors = [self.anchor] if isinstance(self.anchor, str) else (self.anchor or [])
        if isinstance(self.anchor, list) and not self.anchor:
            raise ValueError("anchor: give a codec label or a non-empty list of them")
        curves = [c.key for c in self.codecs] + [r.key for r in self.references]
        for a in anchors:
            if a not in curves:
                raise ValueError(f"anchor {a!r} is not one of the codecs or references {curves}")
        datasets = [d.label for d in self.datasets]
        for r in self.references:
            if r.dataset not in datasets:
                raise ValueError(f"reference {r.key!r} was measured on {r.dataset!r}, which is not a dataset of "
                                 f"this suite {datasets}: a published curve only applies to its own dataset")
        if len(set(anchors)) != len(anchors):
            raise ValueError(f"anchor lists a codec twice: {anchors}")
        metrics = [m.key for m in self.metrics]
        if self.primary is not None and self.primary not in metrics:
            near = difflib.get_close_matches(self.primary, metrics, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"primary {self.primary!r} is not one of the metrics {metrics}{hint}")
        return self

    def canonical(self) -> dict[str, Any]:
        """The parts that determine results, with defaults filled in (output options excluded)."""
        data = self.model_dump(mode="json")
        out = data.pop("output")
        data.pop("primary")                        # how the report ranks, not what is measured
        data.pop("report")                         # what the report shows, not what is measured
        data["quantize"] = out["quantize"]
        data.pop("description", None)
        for solver in data["solvers"]:
            if solver.get("engine") is None:     # absent: hash as before the key existed
                solver.pop("engine", None)
        if not data["references"]:                 # absent: hash as before the key existed
            data.pop("references")
        if not data["diagnostics"].get("per_image"):      # absent: hash as before the key existed
            data["diagnostics"].pop("per_image", None)
        if not data["diagnostics"]["set_pairs"] and not data["diagnostics"].get("per_image"):
            data.pop("diagnostics")
        return data

    def hash(self) -> str:
        """Canonical suite hash: sha256 of the sorted-key JSON of :meth:`canonical` (16 hex)."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- checks across entries (on raw data, so they run even when some entries are malformed) --------
def _entry_key(entry: Any, what: str) -> str | None:
    """The label an entry of ``what`` would get, or None when it is too malformed to tell."""
    if isinstance(entry, str):
        return entry if what != "codecs" else None
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return None
    if what == "metrics":
        crop = entry.get("crop_border")
        return f"{entry['name']}@crop{crop}" if isinstance(crop, int) and crop else entry["name"]
    if what == "datasets":
        params = entry.get("params")
        if entry["name"] == "folder" and isinstance(params, dict) and "path" in params:
            return Path(str(params["path"])).name or entry["name"]
        return entry["name"]
    label = entry.get("label")
    return label if isinstance(label, str) and label else entry["name"]


def cross_problems(data: Any) -> list[str]:
    """Problems between entries (duplicate labels, an anchor that is not a codec), each with its
    key path; malformed entries are left to the schema's own messages."""
    if not isinstance(data, dict):
        return []
    problems = []
    diags = data.get("diagnostics")
    lists = {"codecs": data.get("codecs"), "solvers": data.get("solvers"), "metrics": data.get("metrics"),
             "datasets": data.get("datasets"),
             "diagnostics.per_image": diags.get("per_image") if isinstance(diags, dict) else None}
    keys: dict[str, list[str | None]] = {}
    for what, entries in lists.items():
        keys[what] = [_entry_key(e, what.split(".")[0]) for e in entries] if isinstance(entries, list) else []
        present = [k for k in keys[what] if k is not None]
        dup = sorted({k for k in present if present.count(k) > 1})
        if dup:
            problems.append(f"{what}: duplicate {what} entries {dup}: give each a distinct 'label'")
    refs = data.get("references")
    ref_keys: list[str | None] = []
    for r in refs if isinstance(refs, list) else []:
        label = r.get("label") if isinstance(r, dict) else None
        path = r.get("path") if isinstance(r, dict) else None
        ref_keys.append(label if isinstance(label, str) and label else
                        Path(path).stem if isinstance(path, str) else None)
        dataset = r.get("dataset") if isinstance(r, dict) else None
        datasets = [k for k in keys["datasets"] if k is not None]
        if (isinstance(dataset, str) and isinstance(lists["datasets"], list)
                and len(datasets) == len(lists["datasets"]) and dataset not in datasets):
            problems.append(f"references: reference {ref_keys[-1]!r} was measured on {dataset!r}, which is not a "
                            f"dataset of this suite {datasets}: a published curve only applies to its own dataset")
    if ref_keys:
        both = [k for k in keys["codecs"] + ref_keys if k is not None]
        dup = sorted({k for k in both if both.count(k) > 1} - {k for k in keys["codecs"] if keys["codecs"].count(k) > 1})
        if dup:
            problems.append(f"references: duplicate codecs and references entries {dup}: give each a distinct 'label'")
    anchor = data.get("anchor")
    codecs = [k for k in keys["codecs"] + ref_keys if k is not None]
    complete = (isinstance(lists["codecs"], list) and None not in keys["codecs"] and None not in ref_keys)
    if isinstance(anchor, list) and not anchor:
        problems.append("anchor: give a codec label or a non-empty list of them")
    anchors = [anchor] if isinstance(anchor, str) else anchor if isinstance(anchor, list) else []
    for i, a in enumerate(anchors):
        where = "anchor" if isinstance(anchor, str) else f"anchor[{i}]"
        if isinstance(a, str) and complete and a not in codecs:
            near = difflib.get_close_matches(a, codecs, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            what = "codecs or references" if ref_keys else "codecs"
            problems.append(f"{where}: anchor {a!r} is not one of the {what} {codecs}{hint}")
    if isinstance(anchor, list) and len({str(a) for a in anchor}) != len(anchor):
        problems.append(f"anchor: anchor lists a codec twice: {anchor}")
    return problems


# -- error formatting -------------------------------------------------------------------------
def _model_at(loc: tuple) -> type[BaseModel] | None:
    """Walk the schema along ``loc`` and return the model whose field set applies there."""
    model: type[BaseModel] | None = Suite
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return model
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann] + list(inner or [])
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def _path_str(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if not loc and err["type"] == "value_error":
            continue                     # the cross-entry checks: parse_suite lists them one by one
        path = _path_str(loc)
        if err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            valid = sorted(model.model_fields) if model else []
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            problems.append(f"{path}: unknown key{hint} (valid keys: {', '.join(valid)})")
        elif err["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {msg}")
    return problems


# -- loading ----------------------------------------------------------------------------------
def parse_suite(data: Any, source: str = "<suite>") -> Suite:
    """Validate already-parsed YAML data; raise :class:`SuiteError` naming ``source``."""
    if not isinstance(data, dict):
        raise SuiteError(source, [f"top level must be a mapping, got {type(data).__name__}"])
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        problems = _format_errors(exc) + cross_problems(data)
        if not problems:          # a check across entries that cross_problems does not know: as pydantic says
            problems = [f"(top level): {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise SuiteError(source, problems) from None


#: most YAML nodes a suite may expand to once aliases are followed (a real suite has a few hundred)
MAX_EXPANDED_NODES = 100_000


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of ``root`` with every alias expanded, counted without expanding (shared nodes are
    counted once per reference; memoised, iterative, so a deep or aliased document is cheap).
    A node that contains itself (``&a [*a]``) counts as infinite."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_nodes:
            return MAX_EXPANDED_NODES + 1            # reached again while its children are open
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            kids = []
        if children_done or not kids:
            sizes[id(node)] = min(1 + sum(sizes[id(k)] for k in kids), MAX_EXPANDED_NODES + 1)
            open_nodes.discard(id(node))
            continue
        if any(id(k) in open_nodes for k in kids):
            return MAX_EXPANDED_NODES + 1
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def _safe_load_bounded(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses a document whose aliases expand it beyond
    :data:`MAX_EXPANDED_NODES` nodes (an "alias bomb"), before anything is constructed."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node)
        if size > MAX_EXPANDED_NODES:
            raise SuiteError(source, [f"the YAML expands to more than {MAX_EXPANDED_NODES:,} nodes once its "
                                      "aliases (*name) are followed, or an alias refers to itself; "
                                      "refusing to load it"])
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file (``yaml.safe_load``). Import strings it names resolve
    against its folder too (:func:`qbench.registry.add_import_root`)."""
    from .registry import add_import_root

    path = Path(path)
    data = read_suite_data(path)
    add_import_root(path.parent)
    suite = parse_suite(data, str(path))
    suite._source_dir = path.parent
    return suite


def read_suite_data(path: str | Path) -> Any:
    """The parsed YAML of a suite file, unvalidated; :class:`SuiteError` when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(str(path), ["file not found"]) from None
    except OSError as exc:
        raise SuiteError(str(path), [f"cannot read: {exc}"]) from None
    try:
        data = _safe_load_bounded(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SuiteError(str(path), [f"{where}invalid YAML ({getattr(exc, 'problem', exc)})"]) from None
    return data
