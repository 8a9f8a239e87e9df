"""The SQLite results store (WAL): runs, planned samples, encodings, outputs, metric values, failures.

Rows are written as they are produced and committed at once, so a killed run loses at most the
job in flight. Writes are idempotent upserts keyed by content-derived keys, so a rerun resumes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import StoreError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
  suite_name TEXT NOT NULL, suite_hash TEXT NOT NULL, suite_json TEXT NOT NULL,
  env_json TEXT NOT NULL, counts_json TEXT);
CREATE TABLE IF NOT EXISTS files (
  path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, mode TEXT NOT NULL,
  pixel_hash TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, channels INTEGER NOT NULL,
  PRIMARY KEY (path, size, mtime_ns, mode));
CREATE TABLE IF NOT EXISTS plan (
  suite_hash TEXT NOT NULL, sample_id TEXT NOT NULL,
  dataset TEXT NOT NULL, image TEXT NOT NULL, image_hash TEXT NOT NULL,
  codec TEXT NOT NULL, quality REAL, solver TEXT NOT NULL, task TEXT NOT NULL,
  enc_key TEXT NOT NULL, out_key TEXT NOT NULL, ordinal INTEGER NOT NULL,
  PRIMARY KEY (suite_hash, sample_id));
CREATE TABLE IF NOT EXISTS encodings (
  enc_key TEXT PRIMARY KEY, image_hash TEXT NOT NULL, codec TEXT NOT NULL, quality REAL,
  nbytes INTEGER NOT NULL, pixels INTEGER NOT NULL, bpp REAL NOT NULL,
  side_info TEXT NOT NULL, bytes_path TEXT, decoded_path TEXT, seconds REAL, run_id INTEGER);
CREATE TABLE IF NOT EXISTS outputs (
  out_key TEXT PRIMARY KEY, enc_key TEXT NOT NULL, solver TEXT NOT NULL, path TEXT,
  seconds REAL, run_id INTEGER);
CREATE TABLE IF NOT EXISTS metrics (
  out_key TEXT NOT NULL, metric TEXT NOT NULL, version TEXT NOT NULL, value REAL,
  run_id INTEGER, PRIMARY KEY (out_key, metric, version));
CREATE TABLE IF NOT EXISTS failures (
  key TEXT NOT NULL, stage TEXT NOT NULL, detail TEXT NOT NULL, error TEXT NOT NULL,
  run_id INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (key, stage, detail, run_id));
CREATE TABLE IF NOT EXISTS set_metrics (
  suite_hash TEXT NOT NULL, dataset TEXT NOT NULL, solver TEXT NOT NULL, codec TEXT NOT NULL,
  quality REAL, metric TEXT NOT NULL, version TEXT NOT NULL, set_key TEXT NOT NULL, value REAL,
  n_images INTEGER, n_features INTEGER, run_id INTEGER,
  PRIMARY KEY (suite_hash, dataset, solver, codec, quality, metric, version));
CREATE TABLE IF NOT EXISTS solver_costs (
  spec_hash TEXT NOT NULL, device TEXT NOT NULL, solver TEXT NOT NULL, params INTEGER,
  flops_per_mp REAL, seconds_per_mp REAL, peak_mem_mb REAL, run_id INTEGER,
  PRIMARY KEY (spec_hash, device));
CREATE TABLE IF NOT EXISTS skipped_metrics (
  suite_hash TEXT NOT NULL, metric TEXT NOT NULL, reason TEXT NOT NULL, run_id INTEGER,
  PRIMARY KEY (suite_hash, metric));
"""


@dataclass(frozen=True)
class EncodingRow:
    enc_key: str
    image_hash: str
    codec: str
    quality: float | None
    nbytes: int
    pixels: int
    bpp: float
    side_info: dict[str, Any]
    bytes_path: str | None
    decoded_path: str | None
    seconds: float


class Store:
    """A results database at ``path`` (created if absent)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open results store {self.path}: {exc}") from exc
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema {row[0]}, this qbench writes {SCHEMA_VERSION}; "
                             "use another --out folder or --fresh")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, suite_name: str, suite_hash: str, suite_json: dict, env: dict) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started, status, suite_name, suite_hash, suite_json, env_json) "
            "VALUES (?, 'running', ?, ?, ?, ?)",
            (time.time(), suite_name, suite_hash, json.dumps(suite_json, sort_keys=True),
             json.dumps(env, sort_keys=True)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, counts: dict) -> None:
        self.db.execute("UPDATE runs SET finished=?, status=?, counts_json=? WHERE run_id=?",
                        (time.time(), status, json.dumps(counts, sort_keys=True), run_id))

    def latest_run(self) -> dict | None:
        cur = self.db.execute("SELECT * FROM runs ORDER BY run_id DESC LIMIT 1")
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row))

    # -- image file cache ---------------------------------------------------------------
    def file_info(self, path: str, size: int, mtime_ns: int, mode: str):
        return self.db.execute(
            "SELECT pixel_hash, height, width, channels FROM files WHERE path=? AND size=? AND "
            "mtime_ns=? AND mode=?", (path, size, mtime_ns, mode)).fetchone()

    def put_file_info(self, path: str, size: int, mtime_ns: int, mode: str, pixel_hash: str,
                      shape: tuple[int, int, int]) -> None:
        self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)",
                        (path, size, mtime_ns, mode, pixel_hash, *shape))

    # -- plan -----------------------------------------------------------------------------
    def put_plan(self, suite_hash: str, rows: Iterable[tuple]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM plan WHERE suite_hash=?", (suite_hash,))
            self.db.executemany("INSERT INTO plan VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                [(suite_hash, *r) for r in rows])

    # -- artefacts --------------------------------------------------------------------------
    def get_encoding(self, enc_key: str) -> EncodingRow | None:
        row = self.db.execute(
            "SELECT enc_key, image_hash, codec, quality, nbytes, pixels, bpp, side_info, bytes_path, "
            "decoded_path, seconds FROM encodings WHERE enc_key=?", (enc_key,)).fetchone()
        if row is None:
            return None
        return EncodingRow(*row[:7], json.loads(row[7]), *row[8:])

    def put_encoding(self, e: EncodingRow, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO encodings VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (e.enc_key, e.image_hash, e.codec, e.quality, e.nbytes, e.pixels, e.bpp,
                         json.dumps(e.side_info), e.bytes_path, e.decoded_path, e.seconds, run_id))

    def get_output(self, out_key: str):
        return self.db.execute("SELECT path, seconds FROM outputs WHERE out_key=?", (out_key,)).fetchone()

    def put_output(self, out_key: str, enc_key: str, solver: str, path: str | None, seconds: float,
                   run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?,?)",
                        (out_key, enc_key, solver, path, seconds, run_id))

    def done_metrics(self, out_key: str) -> set[tuple[str, str]]:
        return {(m, v) for m, v in self.db.execute(
            "SELECT metric, version FROM metrics WHERE out_key=?", (out_key,))}

    def put_metrics(self, out_key: str, values: dict[tuple[str, str], float], run_id: int) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?)",
                                [(out_key, m, v, val, run_id) for (m, v), val in values.items()])

    def put_failure(self, key: str, stage: str, detail: str, error: str, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                        (key, stage, detail, error[:4000], run_id, time.time()))

    def put_skipped_metric(self, suite_hash: str, metric: str, reason: str, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO skipped_metrics VALUES (?,?,?,?)",
                        (suite_hash, metric, reason, run_id))

    def clear_skipped_metrics(self, suite_hash: str) -> None:
        self.db.execute("DELETE FROM skipped_metrics WHERE suite_hash=?", (suite_hash,))

    def get_set_metric(self, suite_hash: str, group: tuple, metric: str, version: str):
        """(set_key, value) of a stored set-level metric for a dataset/solver/codec/quality group."""
        return self.db.execute(
            "SELECT set_key, value FROM set_metrics WHERE suite_hash=? AND dataset=? AND solver=? AND "
            "codec=? AND quality=? AND metric=? AND version=?", (suite_hash, *group, metric, version)).fetchone()

    def put_set_metric(self, suite_hash: str, group: tuple, metric: str, version: str, set_key: str,
                       value: float, n_images: int, n_features: int, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO set_metrics VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (suite_hash, *group, metric, version, set_key, value, n_images, n_features, run_id))

    def get_cost(self, spec_hash: str, device: str):
        return self.db.execute("SELECT params, flops_per_mp, seconds_per_mp, peak_mem_mb FROM solver_costs "
                               "WHERE spec_hash=? AND device=?", (spec_hash, device)).fetchone()

    def put_cost(self, solver: str, spec_hash: str, device: str, cost, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO solver_costs VALUES (?,?,?,?,?,?,?,?)",
                        (spec_hash, device, solver, cost.params, cost.flops_per_mp, cost.seconds_per_mp,
                         cost.peak_mem_mb, run_id))

    def query(self, sql: str, params: tuple = ()):
        """Run a read query and return (column names, rows)."""
        cur = self.db.execute(sql, params)
        return [d[0] for d in cur.description], cur.fetchall()
