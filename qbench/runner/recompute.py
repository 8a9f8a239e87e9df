"""``qbench run --recompute NAME``: drop one component's stored results so the run computes them again.

NAME is a solver, codec, metric or diagnostic label of the suite (``kind:label`` picks one kind when
a label is used by several). What is dropped, for the suite's samples:

* a solver: its outputs (and a rescaler's low-res images and their bitstreams) with their values;
* a codec: its bitstreams and everything measured or computed from them (solver outputs included);
* a metric: its values; a diagnostic: its values;
* and the set-level values (FID/KID) and the cost row that depend on the component.

Nothing else is touched: other components' results are still reused.
"""

from __future__ import annotations

import difflib

from ..errors import ConfigError
from ..pipelines import COMPRESSED, LOWRES
from .resolve import Components

KINDS = ("solver", "codec", "metric", "diagnostic")


def component_labels(comps: Components) -> dict[str, list[str]]:
    """The labels of every component, by kind (what ``--recompute`` may name)."""
    return {"solver": [label for label, _ in comps.solvers], "codec": [c.label for c in comps.codecs],
            "metric": [m.key for m in comps.metrics + comps.set_metrics],
            "diagnostic": [d.label for d in comps.diagnostics]}


def select(names: list[str], comps: Components) -> list[tuple[str, str]]:
    """``(kind, label)`` of every component ``names`` designate; an unknown name raises
    :class:`ConfigError` with near matches."""
    labels = component_labels(comps)
    out: list[tuple[str, str]] = []
    for name in names:
        kind, sep, label = name.partition(":")
        if sep and kind in KINDS and label in labels[kind]:
            hits = [(kind, label)]
        else:
            hits = [(k, name) for k in KINDS if name in labels[k]]
        if not hits:
            known = sorted({f"{label}" for ls in labels.values() for label in ls})
            near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else f"; known: {', '.join(known)}"
            raise ConfigError(f"--recompute {name!r}: no solver, codec, metric or diagnostic of the suite is "
                              f"labelled so{hint}")
        out += [h for h in hits if h not in out]
    return out


def drop(store, suite_hash: str, names: list[str], samples, comps: Components, pipelines) -> list[str]:
    """Delete the stored results of the components ``names`` designate; one line per component."""
    lines = []
    solvers = dict(comps.solvers)
    codecs = {c.label: c.codec for c in comps.codecs}
    for kind, label in select(names, comps):
        if kind == "solver":
            mine = [s for s in samples if s.solver == label]
            outputs = [(s.out_key, s.out_role) for s in mine if not pipelines[(s.solver, s.codec)].passthrough]
            n = store.drop_artefacts(outputs)
            pre = [s for s in mine if s.keys.pre_key]
            if pre:
                store.drop_artefacts([(s.keys.pre_key, LOWRES) for s in pre])
                store.drop_encodings([s.enc_key for s in pre], COMPRESSED)
            store.drop_set_values(suite_hash, "solver", label)
            store.drop_cost(solvers[label].spec_hash())
            lines.append(f"solver {label}: {n} stored output(s) dropped; they are recomputed"
                         if outputs else f"solver {label}: passes its input through; its values are those "
                                         f"of the compressed images (recompute the codec instead)")
        elif kind == "codec":
            mine = [s for s in samples if s.codec == label]
            n = store.drop_encodings([s.enc_key for s in mine], COMPRESSED)
            store.drop_artefacts([(s.out_key, s.out_role) for s in mine if s.out_key != s.enc_key])
            store.drop_set_values(suite_hash, "codec", label)
            store.drop_cost(codecs[label].spec_hash())
            lines.append(f"codec {label}: {n} stored bitstream(s) and what was computed from them dropped; "
                         f"they are recomputed")
        else:
            keys = {k for s in samples for k in (s.enc_key, s.out_key, s.image.pixel_hash)}
            prefix = kind == "diagnostic"
            n = store.drop_values(keys, label, prefix=prefix)
            n += store.drop_set_values(suite_hash, "metric", label, prefix=prefix)
            lines.append(f"{kind} {label}: {n} stored value(s) dropped; they are recomputed")
    return lines
