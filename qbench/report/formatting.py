"""How report cells are written: numbers, arrows, codec points (shared by every section)."""

from __future__ import annotations

import math

from .data import ReportData


#: how an undefined value (no image measured, no interval) is written
NA = "n/a"


def is_nan(v) -> bool:
    """Whether ``v`` is None or a float NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt(v, digits: int, sign: str = "") -> str:
    """``v`` with ``digits`` decimals (``sign`` as in a format spec); ``n/a`` for a missing value."""
    return NA if is_nan(v) else f"{float(v):{sign}.{digits}f}"


def digits_of(data: ReportData, metric: str) -> int:
    """Decimals shown for ``metric``: 2 for dB, else 4."""
    info = data.metrics.get(metric.removesuffix("_gain"))
    if info is not None and info.unit:
        return 2 if info.unit == "dB" else 4
    return 2 if metric.startswith("psnr") else 4


def arrow(data: ReportData, metric: str) -> str:
    """The direction mark of ``metric``: up when higher is better."""
    return "↑" if data.higher_is_better.get(metric, True) else "↓"


def quality_text(data: ReportData, codec: str, quality: float) -> str:
    """A codec point as reports write it, naming the knob: ``q 40``, ``ratio 240``, ``distance 0.9``,
    ``0.5 bpp target`` (the bare number for stores that did not record the knob)."""
    info = data.codecs.get(codec)
    targeted = info.target if info is not None else any(
        (c.get("label") or c["name"]) == codec and c.get("target_bpp") for c in data.suite.get("codecs", []))
    if targeted:
        return f"{quality:g} bpp target"
    return f"{info.knob} {quality:g}" if info is not None and info.knob else f"{quality:g}"


def file_slug(text: object) -> str:
    """``text`` as a safe file-name part (figures beside a report), unique per text.

    A text made of letters, digits and ``_ . -`` (not starting with ``.`` or ``-``) is its own slug;
    in any other text, runs of other characters become ``_`` and ``-`` plus 8 hex digits of the
    text's sha256 are appended, so two texts never share a slug ("set_1" stays "set_1", "set 1"
    becomes "set_1-" + hash). Deterministic: the slug depends on the text alone.
    """
    import hashlib
    import re

    text = str(text)
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', text).lstrip('.-')}-{digest}"


def unique_stems(stems: dict) -> dict:
    """``{key: stem}`` with stems shared by several keys made unique: each of those gets ``-`` plus
    8 hex digits of the sha256 of its key's ``repr`` (deterministic; a stem held by one key is
    unchanged). For file names joined from several slugs, which can meet ("a_b" + "c" and "a" + "b_c")."""
    import hashlib
    from collections import Counter

    counts = Counter(stems.values())
    return {k: (s if counts[s] == 1 else f"{s}-{hashlib.sha256(repr(k).encode()).hexdigest()[:8]}")
            for k, s in stems.items()}
