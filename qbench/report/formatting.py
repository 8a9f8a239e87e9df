"""How report cells are written: numbers, arrows, codec points (shared by every section)."""

from __future__ import annotations

import math

from .data import ReportData


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v, digits: int, sign: str = "") -> str:
    return "–" if _nan(v) else f"{float(v):{sign}.{digits}f}"


def _digits(data: ReportData, metric: str) -> int:
    info = data.metrics.get(metric.removesuffix("_gain"))
    if info is not None and info.unit:
        return 2 if info.unit == "dB" else 4
    return 2 if metric.startswith("psnr") else 4


def _arrow(data: ReportData, metric: str) -> str:
    return "↑" if data.higher_is_better.get(metric, True) else "↓"


def _quality(data: ReportData, codec: str, quality: float) -> str:
    info = data.codecs.get(codec)
    targeted = info.target if info is not None else any(
        (c.get("label") or c["name"]) == codec and c.get("target_bpp") for c in data.suite.get("codecs", []))
    return f"{quality:g} bpp target" if targeted else f"{quality:g}"


def file_slug(text: object) -> str:
    """``text`` as a safe file-name part (figures beside a report): other characters become ``_``."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))
