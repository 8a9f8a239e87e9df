"""Cost of verifying cache files: hash throughput, and checking a results folder's whole cache.

Prints the throughput of sha256 and blake2b on 64 MiB in memory (why the cache uses sha256),
then, for each results folder given, the time ``qbench verify`` spends hashing every cache file
the store refers to (files read from the page cache after a first pass, and the first pass).

    python benchmarks/bench_cache_verify.py [RESULTS_DIR ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path


def throughput(name: str, data: bytes, repeat: int = 3) -> float:
    """MB/s of ``hashlib.new(name)`` over ``data`` (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        hashlib.new(name, data).hexdigest()
        best = min(best, time.perf_counter() - t0)
    return len(data) / 1e6 / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from qbench.cachefile import verify_folder

    data = os.urandom(64 << 20)
    report: dict = {"hash_mb_per_s": {n: round(throughput(n, data)) for n in ("sha256", "blake2b")}, "folders": {}}
    print("hash throughput (MB/s):", report["hash_mb_per_s"])
    for folder in args.folders:
        runs = []
        for _ in range(2):                       # the first pass may read from disk, the second from memory
            t0 = time.perf_counter()
            checked, problems = verify_folder(folder)
            runs.append(time.perf_counter() - t0)
        size = sum(p.stat().st_size for p in (folder / "cache").rglob("*") if p.is_file())
        report["folders"][str(folder)] = {"files": checked, "problems": len(problems), "cache_mb": round(size / 1e6, 1),
                                          "first_s": round(runs[0], 3), "second_s": round(runs[1], 3)}
        print(f"{folder}: {checked} files ({size / 1e6:.1f} MB), {len(problems)} problem(s); verified in "
              f"{runs[0]:.3f} s, again in {runs[1]:.3f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
