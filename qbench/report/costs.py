"""The cost table: one row per solver / learned codec probe, and encode and decode rows per codec.

Solver and learned-codec rows come from the cost probe (``costs`` + ``cost_latency``): latency per
megapixel is the median of ``n`` timed calls after warm-up on a ``probe`` x ``probe`` input, with
the fastest and slowest (``spread`` ``min-max``). Codec rows come from every encoding of the suite
(``code_seconds``): seconds per megapixel of the pristine image, median and interquartile range
(``spread`` ``p25-p75``) over the ``n`` encodings; with ``target_bpp`` the encode time includes the
rate search (``step`` ``encode (rate search)``). Library codecs run in the CPU worker processes,
learned codecs on the run's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..store import Store

COST_COLUMNS = ["label", "kind", "step", "device", "params", "flops_per_mp", "seconds_per_mp", "seconds_low",
                "seconds_high", "spread", "n", "probe", "peak_mem_mb"]


def _frame(store: Store, sql: str, params: tuple = ()):
    import pandas as pd

    cols, rows = store.query(sql, params)
    return pd.DataFrame(rows, columns=cols)


def _has_table(store: Store, name: str) -> bool:
    """Whether the store has ``name`` (stores written before it existed lack it)."""
    return bool(store.query("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (name,))[1])


def load_costs(store: Store, suite_hash: str, solvers: dict, codecs: dict, device: str | None):
    """The cost DataFrame (:data:`COST_COLUMNS`) of a suite's solvers and codecs."""
    import pandas as pd

    latency = ("l.seconds_low, l.seconds_high, l.repeats, l.probe" if _has_table(store, "cost_latency")
               else "NULL AS seconds_low, NULL AS seconds_high, NULL AS repeats, NULL AS probe")
    join = ("LEFT JOIN cost_latency l ON l.spec_hash = c.spec_hash AND l.device = c.device"
            if _has_table(store, "cost_latency") else "")
    costs = _frame(store, "SELECT c.spec_hash, c.device, c.label, c.kind, c.params, c.flops_per_mp, "
                          f"c.seconds_per_mp, c.peak_mem_mb, c.run_id, {latency} FROM costs c {join} "
                          "ORDER BY c.run_id, c.rowid")
    rows = _probe_rows(costs, solvers, codecs, device)
    if _has_table(store, "code_seconds"):
        rows += _codec_rows(store, suite_hash, codecs, device)
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def _probe_rows(costs, solvers: dict, codecs: dict, device: str | None) -> list[list[Any]]:
    """One row per suite solver / learned codec with a probe cost: matched by spec hash (codecs
    without one by label), preferring the run's device, else the latest measurement."""
    rows = []
    wanted = [(s.label, "solver", "solve", s.spec_hash) for s in solvers.values()]
    wanted += [(c.label, "codec", "encode+decode", c.spec_hash) for c in codecs.values() if c.learned]
    for label, kind, step, spec_hash in wanted:
        match = costs[costs["spec_hash"] == spec_hash] if spec_hash else \
            costs[(costs["label"] == label) & (costs["kind"] == kind)]
        if match.empty:
            continue
        same = match[match["device"] == device]
        r = (same if len(same) else match).iloc[-1]
        measured = r["probe"] is not None and not _nan(r["probe"])
        rows.append([label, kind, step, r["device"], r["params"], r["flops_per_mp"], r["seconds_per_mp"],
                     r["seconds_low"], r["seconds_high"], "min-max" if measured else "",
                     int(r["repeats"]) if measured else 1, int(r["probe"]) if measured else np.nan,
                     r["peak_mem_mb"]])
    return rows


def _codec_rows(store: Store, suite_hash: str, codecs: dict, device: str | None) -> list[list[Any]]:
    """Encode and decode rows per codec label, over the suite's encodings (each counted once)."""
    df = _frame(store, "SELECT DISTINCT p.codec, p.target, e.enc_key, e.pixels, t.encode, t.decode "
                       "FROM plan p JOIN encodings e ON e.enc_key = p.enc_key JOIN code_seconds t "
                       "ON t.enc_key = p.enc_key WHERE p.suite_hash = ?", (suite_hash,))
    rows = []
    if df.empty:
        return rows
    df = df.drop_duplicates("enc_key")
    for label in [c for c in codecs if c in set(df["codec"])] + sorted(set(df["codec"]) - set(codecs)):
        part = df[df["codec"] == label]
        info = codecs.get(label)
        where = (device or "") if info is not None and info.learned else "cpu"
        mp = part["pixels"].to_numpy(np.float64) / 1e6
        for step in ("encode", "decode"):
            per_mp = part[step].to_numpy(np.float64) / mp
            per_mp = per_mp[np.isfinite(per_mp)]
            if not len(per_mp):
                continue
            name = "encode (rate search)" if step == "encode" and part["target"].astype(bool).any() else step
            lo, med, hi = np.quantile(per_mp, [0.25, 0.5, 0.75])
            rows.append([label, "codec", name, where, np.nan, np.nan, float(med), float(lo), float(hi),
                         "p25-p75", int(len(per_mp)), np.nan, np.nan])
    return rows


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))
