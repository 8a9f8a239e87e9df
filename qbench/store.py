"""The SQLite results store (WAL): the single record of a results folder.

Tables: runs, the file-hash cache, the plan (samples with their pipeline, keys and roles),
encodings (bitstreams), artefacts (images by key and role: low-res, enhanced outputs), values
(metric values keyed by artefact key and role), set-level values (between two image sets, each a
role of a group), component descriptions (what a report needs to know about metrics, solvers and
codecs, so reports never consult the registries), costs (with their latency spread, repeats and
probe size in ``cost_latency``), each encoding's encode and decode seconds (``code_seconds``),
failures and skipped metrics.

Rows are written as they are produced and committed at once, so a killed run loses at most the
jobs in flight. Writes are idempotent upserts keyed by content-derived keys, so a rerun resumes.
Only the runner's main process writes (worker processes return records).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import StoreError

SCHEMA_VERSION = 2

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
  codec TEXT NOT NULL, quality REAL, target INTEGER NOT NULL, solver TEXT NOT NULL,
  task TEXT NOT NULL, pipeline TEXT NOT NULL, pre_key TEXT, enc_key TEXT NOT NULL,
  out_key TEXT NOT NULL, out_role TEXT NOT NULL, ordinal INTEGER NOT NULL,
  PRIMARY KEY (suite_hash, sample_id));
CREATE TABLE IF NOT EXISTS encodings (
  enc_key TEXT PRIMARY KEY, image_hash TEXT NOT NULL, codec TEXT NOT NULL, quality REAL,
  nbytes INTEGER NOT NULL, pixels INTEGER NOT NULL, bpp REAL NOT NULL,
  side_info TEXT NOT NULL, bytes_path TEXT, decoded_path TEXT, seconds REAL, run_id INTEGER);
CREATE TABLE IF NOT EXISTS artefacts (
  key TEXT NOT NULL, role TEXT NOT NULL, path TEXT, seconds REAL, info TEXT NOT NULL,
  run_id INTEGER, PRIMARY KEY (key, role));
CREATE TABLE IF NOT EXISTS "values" (
  key TEXT NOT NULL, role TEXT NOT NULL, metric TEXT NOT NULL, version TEXT NOT NULL, value REAL,
  run_id INTEGER, PRIMARY KEY (key, role, metric, version));
CREATE TABLE IF NOT EXISTS set_values (
  suite_hash TEXT NOT NULL, dataset TEXT NOT NULL, solver TEXT NOT NULL, codec TEXT NOT NULL,
  quality REAL, ref_role TEXT NOT NULL, test_role TEXT NOT NULL, metric TEXT NOT NULL,
  version TEXT NOT NULL, set_key TEXT NOT NULL, value REAL, n_images INTEGER, n_features INTEGER,
  run_id INTEGER,
  PRIMARY KEY (suite_hash, dataset, solver, codec, quality, ref_role, test_role, metric, version));
CREATE TABLE IF NOT EXISTS components (
  suite_hash TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL, info TEXT NOT NULL,
  PRIMARY KEY (suite_hash, kind, label));
CREATE TABLE IF NOT EXISTS costs (
  spec_hash TEXT NOT NULL, device TEXT NOT NULL, label TEXT NOT NULL, kind TEXT NOT NULL,
  params INTEGER, flops_per_mp REAL, seconds_per_mp REAL, peak_mem_mb REAL, run_id INTEGER,
  PRIMARY KEY (spec_hash, device));
CREATE TABLE IF NOT EXISTS cost_latency (
  spec_hash TEXT NOT NULL, device TEXT NOT NULL, probe INTEGER NOT NULL, repeats INTEGER NOT NULL,
  seconds_low REAL, seconds_high REAL, run_id INTEGER, PRIMARY KEY (spec_hash, device));
CREATE TABLE IF NOT EXISTS code_seconds (
  enc_key TEXT PRIMARY KEY, encode REAL, decode REAL, run_id INTEGER);
CREATE TABLE IF NOT EXISTS failures (
  key TEXT NOT NULL, stage TEXT NOT NULL, detail TEXT NOT NULL, error TEXT NOT NULL,
  run_id INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (key, stage, detail, run_id));
CREATE TABLE IF NOT EXISTS skipped_metrics (
  suite_hash TEXT NOT NULL, metric TEXT NOT NULL, reason TEXT NOT NULL, run_id INTEGER,
  PRIMARY KEY (suite_hash, metric));
"""

@dataclass(frozen=True)
class EncodingRow:
    """A bitstream: its size, rate and what the decoder reported (``side_info``)."""

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


@dataclass(frozen=True)
class ArtefactRow:
    """An image produced by a stage, identified by (key, role): a low-res image or a solver output."""

    key: str
    role: str
    path: str | None
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ValueRow:
    """One metric value of the image at (key, role), measured against the original."""

    key: str
    role: str
    metric: str
    version: str
    value: float


class Store:
    """A results database at ``path`` (created if absent)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            row = self._schema_version()
            if row is not None and int(row) != SCHEMA_VERSION:
                raise StoreError(f"{self.path} has store schema {row}, this qbench writes {SCHEMA_VERSION}; "
                                 "use another --out folder or --fresh")
            self.db.executescript(SCHEMA)
            if row is None:
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open results store {self.path}: {exc}") from exc

    def _schema_version(self) -> str | None:
        has_meta = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _many(self, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(sql, rows)

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, suite_name: str, suite_hash: str, suite_json: dict, env: dict) -> int:
        """Record a new run (status ``running``, with this process's host and pid); runs left
        ``running`` by a process of this host that no longer exists become ``interrupted``."""
        import os
        import socket

        self.mark_interrupted_runs()
        env = {**env, "process": {"host": socket.gethostname(), "pid": os.getpid()}}
        cur = self.db.execute(
            "INSERT INTO runs (started, status, suite_name, suite_hash, suite_json, env_json) "
            "VALUES (?, 'running', ?, ?, ?, ?)",
            (time.time(), suite_name, suite_hash, json.dumps(suite_json, sort_keys=True),
             json.dumps(env, sort_keys=True)))
        return int(cur.lastrowid)

    def mark_interrupted_runs(self) -> list[int]:
        """Set ``interrupted`` on runs still ``running`` whose process (on this host) is gone:
        killed runs. Runs of other hosts, or of live processes, are left alone."""
        import os
        import socket

        host, gone = socket.gethostname(), []
        for run_id, env_json in self.db.execute("SELECT run_id, env_json FROM runs WHERE status='running'").fetchall():
            proc = json.loads(env_json or "{}").get("process") or {}
            if proc.get("host") != host or not isinstance(proc.get("pid"), int):
                continue
            try:
                os.kill(proc["pid"], 0)
            except ProcessLookupError:
                gone.append(run_id)
            except PermissionError:          # alive, another user's
                continue
        for run_id in gone:
            self.db.execute("UPDATE runs SET status='interrupted' WHERE run_id=? AND status='running'", (run_id,))
        return gone

    def finish_run(self, run_id: int, status: str, counts: dict) -> None:
        self.db.execute("UPDATE runs SET finished=?, status=?, counts_json=? WHERE run_id=?",
                        (time.time(), status, json.dumps(counts, sort_keys=True), run_id))

    def run(self, run_id: int) -> dict | None:
        cur = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row))

    def latest_run(self, suite_hash: str | None = None) -> dict | None:
        if suite_hash:
            cur = self.db.execute("SELECT * FROM runs WHERE suite_hash=? ORDER BY run_id DESC LIMIT 1",
                                  (suite_hash,))
        else:
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

    # -- plan and components ----------------------------------------------------------------
    def put_plan(self, suite_hash: str, rows: Iterable[tuple]) -> None:
        """Replace the suite's plan. Row: (sample_id, dataset, image, image_hash, codec, quality,
        target, solver, task, pipeline, pre_key, enc_key, out_key, out_role, ordinal)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM plan WHERE suite_hash=?", (suite_hash,))
            self.db.executemany("INSERT INTO plan VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                [(suite_hash, *r) for r in rows])

    def put_components(self, suite_hash: str, rows: Iterable[tuple[str, str, dict]]) -> None:
        """Replace what the suite's reports know of its components: (kind, label, info)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM components WHERE suite_hash=?", (suite_hash,))
            self.db.executemany("INSERT INTO components VALUES (?,?,?,?)",
                                [(suite_hash, k, label, json.dumps(info, sort_keys=True, default=str))
                                 for k, label, info in rows])

    def components(self, suite_hash: str) -> dict[str, dict[str, dict]]:
        """kind -> label -> info, in insertion (suite) order."""
        out: dict[str, dict[str, dict]] = {}
        for kind, label, info in self.db.execute(
                "SELECT kind, label, info FROM components WHERE suite_hash=? ORDER BY rowid", (suite_hash,)):
            out.setdefault(kind, {})[label] = json.loads(info)
        return out

    # -- encodings and artefacts --------------------------------------------------------------
    def get_encoding(self, enc_key: str) -> EncodingRow | None:
        got = self.get_encodings([enc_key])
        return got.get(enc_key)

    def get_encodings(self, enc_keys: Iterable[str]) -> dict[str, EncodingRow]:
        keys = list(dict.fromkeys(enc_keys))
        out: dict[str, EncodingRow] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for row in self.db.execute(
                    "SELECT enc_key, image_hash, codec, quality, nbytes, pixels, bpp, side_info, bytes_path, "
                    f"decoded_path, seconds FROM encodings WHERE enc_key IN ({','.join('?' * len(chunk))})",
                    chunk):
                out[row[0]] = EncodingRow(*row[:7], json.loads(row[7]), *row[8:])
        return out

    def put_encoding(self, e: EncodingRow, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO encodings VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (e.enc_key, e.image_hash, e.codec, e.quality, e.nbytes, e.pixels, e.bpp,
                         json.dumps(e.side_info, default=str), e.bytes_path, e.decoded_path, e.seconds, run_id))

    def get_artefact(self, key: str, role: str) -> ArtefactRow | None:
        row = self.db.execute("SELECT key, role, path, seconds, info FROM artefacts WHERE key=? AND role=?",
                              (key, role)).fetchone()
        return None if row is None else ArtefactRow(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def get_artefacts(self, role: str) -> dict[str, ArtefactRow]:
        """Every stored artefact of ``role`` by key."""
        return {r[0]: ArtefactRow(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in self.db.execute(
            "SELECT key, role, path, seconds, info FROM artefacts WHERE role=?", (role,))}

    def put_artefact(self, a: ArtefactRow, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO artefacts VALUES (?,?,?,?,?,?)",
                        (a.key, a.role, a.path, a.seconds, json.dumps(a.info, sort_keys=True, default=str), run_id))

    # -- values ---------------------------------------------------------------------------------
    def done_values(self, keys: Iterable[str] | None = None) -> set[tuple[str, str, str, str]]:
        """(key, role, metric, version) of every stored value (of ``keys`` when given)."""
        if keys is None:
            return set(self.db.execute('SELECT key, role, metric, version FROM "values"'))
        keys = list(dict.fromkeys(keys))
        out: set[tuple[str, str, str, str]] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            out.update(self.db.execute(
                f'SELECT key, role, metric, version FROM "values" WHERE key IN ({",".join("?" * len(chunk))})',
                chunk))
        return out

    def put_values(self, rows: Iterable[ValueRow], run_id: int) -> None:
        self._many('INSERT OR REPLACE INTO "values" VALUES (?,?,?,?,?,?)',
                   [(r.key, r.role, r.metric, r.version, r.value, run_id) for r in rows])

    def get_values(self, key: str, role: str) -> dict[tuple[str, str], float]:
        return {(m, v): val for m, v, val in self.db.execute(
            'SELECT metric, version, value FROM "values" WHERE key=? AND role=?', (key, role))}

    # -- set-level values ---------------------------------------------------------------------
    def get_set_value(self, suite_hash: str, group: tuple, ref_role: str, test_role: str, metric: str,
                      version: str):
        """(set_key, value) of a stored set-level value; ``group`` is (dataset, solver, codec, quality)."""
        return self.db.execute(
            "SELECT set_key, value FROM set_values WHERE suite_hash=? AND dataset=? AND solver=? AND "
            "codec=? AND quality=? AND ref_role=? AND test_role=? AND metric=? AND version=?",
            (suite_hash, *group, ref_role, test_role, metric, version)).fetchone()

    def put_set_value(self, suite_hash: str, group: tuple, ref_role: str, test_role: str, metric: str,
                      version: str, set_key: str, value: float, n_images: int, n_features: int,
                      run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO set_values VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (suite_hash, *group, ref_role, test_role, metric, version, set_key, value, n_images,
                         n_features, run_id))

    # -- costs, failures, skipped ---------------------------------------------------------------
    def get_cost(self, spec_hash: str, device: str, probe: int | None = None, repeats: int | None = None):
        """The stored cost on ``device``; with ``probe``/``repeats``, only one measured that way."""
        if probe is None and repeats is None:
            return self.db.execute("SELECT params, flops_per_mp, seconds_per_mp, peak_mem_mb FROM costs "
                                   "WHERE spec_hash=? AND device=?", (spec_hash, device)).fetchone()
        return self.db.execute(
            "SELECT c.params, c.flops_per_mp, c.seconds_per_mp, c.peak_mem_mb FROM costs c JOIN cost_latency l "
            "ON l.spec_hash = c.spec_hash AND l.device = c.device WHERE c.spec_hash=? AND c.device=? "
            "AND l.probe=? AND l.repeats=?", (spec_hash, device, probe, repeats)).fetchone()

    def put_cost(self, label: str, kind: str, spec_hash: str, device: str, cost, run_id: int) -> None:
        """A cost row; its latency spread, repeats and probe size (when ``cost`` has them) beside it."""
        self.db.execute("INSERT OR REPLACE INTO costs VALUES (?,?,?,?,?,?,?,?,?)",
                        (spec_hash, device, label, kind, cost.params, cost.flops_per_mp, cost.seconds_per_mp,
                         cost.peak_mem_mb, run_id))
        if getattr(cost, "probe", None) is not None:
            self.db.execute("INSERT OR REPLACE INTO cost_latency VALUES (?,?,?,?,?,?,?)",
                            (spec_hash, device, cost.probe, cost.repeats, cost.seconds_low, cost.seconds_high,
                             run_id))

    def put_code_seconds(self, enc_key: str, encode: float, decode: float, run_id: int) -> None:
        """Encode and decode seconds of one encoding (their sum is ``encodings.seconds``)."""
        self.db.execute("INSERT OR REPLACE INTO code_seconds VALUES (?,?,?,?)", (enc_key, encode, decode, run_id))

    def put_failure(self, key: str, stage: str, detail: str, error: str, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                        (key, stage, detail, error[:4000], run_id, time.time()))

    def put_skipped_metric(self, suite_hash: str, metric: str, reason: str, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO skipped_metrics VALUES (?,?,?,?)",
                        (suite_hash, metric, reason, run_id))

    def clear_skipped_metrics(self, suite_hash: str) -> None:
        self.db.execute("DELETE FROM skipped_metrics WHERE suite_hash=?", (suite_hash,))

    # -- reading --------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple = ()):
        """Run a read query and return (column names, rows)."""
        cur = self.db.execute(sql, params)
        return [d[0] for d in cur.description], cur.fetchall()

    # -- dropping one component's results (``qbench run --recompute``) ----------------------------
    def drop_artefacts(self, items: Iterable[tuple[str, str]]) -> int:
        """Delete images at ``(key, role)`` and every value measured on them; return how many images."""
        items = list(dict.fromkeys(items))
        with self.db:
            self.db.execute("BEGIN")
            n = sum(self.db.execute("DELETE FROM artefacts WHERE key=? AND role=?", kr).rowcount for kr in items)
            self.db.executemany('DELETE FROM "values" WHERE key=? AND role=?', items)
        return n

    def drop_encodings(self, enc_keys: Iterable[str], role: str) -> int:
        """Delete bitstreams and the values measured on their decoded images (``role``)."""
        keys = list(dict.fromkeys(enc_keys))
        with self.db:
            self.db.execute("BEGIN")
            n = sum(self.db.execute("DELETE FROM encodings WHERE enc_key=?", (k,)).rowcount for k in keys)
            self.db.executemany('DELETE FROM "values" WHERE key=? AND role=?', [(k, role) for k in keys])
        return n

    def drop_values(self, keys: Iterable[str], metric: str, prefix: bool = False) -> int:
        """Delete the values of ``metric`` (of every metric named ``metric/...`` with ``prefix``) at ``keys``."""
        op, name = ("LIKE", metric.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%") \
            if prefix else ("=", metric)
        esc = " ESCAPE '\\'" if prefix else ""
        with self.db:
            self.db.execute("BEGIN")
            return sum(self.db.execute(f'DELETE FROM "values" WHERE key=? AND metric {op} ?{esc}', (k, name)).rowcount
                       for k in dict.fromkeys(keys))

    def drop_set_values(self, suite_hash: str, column: str, value: str, prefix: bool = False) -> int:
        """Delete the suite's set-level values whose ``column`` (solver, codec or metric) is ``value``."""
        if column not in ("solver", "codec", "metric"):
            raise ValueError(f"drop_set_values: unknown column {column!r}")
        op, arg = ("LIKE", value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%") \
            if prefix else ("=", value)
        esc = " ESCAPE '\\'" if prefix else ""
        with self.db:
            self.db.execute("BEGIN")
            return self.db.execute(f"DELETE FROM set_values WHERE suite_hash=? AND {column} {op} ?{esc}",
                                   (suite_hash, arg)).rowcount

    def drop_cost(self, spec_hash: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM costs WHERE spec_hash=?", (spec_hash,))
