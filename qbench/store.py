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

Every cache file's sha256 is recorded with its row (``encodings.bytes_hash``/``decoded_hash``,
``artefacts.hash``; :mod:`qbench.cachefile`), so a reader can tell a damaged file from a good one.
An older store is migrated in place when a run opens it (see ``_MIGRATIONS``); readers that only
report (``Store(path, readonly=True)``) never write, and work on a read-only folder.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import StoreError

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  started REAL NOT NULL, finished REAL, status TEXT NOT NULL,
  suite_name TEXT NOT NULL, suite_hash TEXT NOT NULL, suite_json TEXT NOT NULL,
  env_json TEXT NOT NULL, counts_json TEXT);
CREATE TABLE IF NOT EXISTS files (
  path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  mode TEXT NOT NULL, pixel_hash TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
  channels INTEGER NOT NULL, PRIMARY KEY (path, size, mtime_ns, ctime_ns, mode));
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
  side_info TEXT NOT NULL, bytes_path TEXT, decoded_path TEXT, seconds REAL, run_id INTEGER,
  bytes_hash TEXT, decoded_hash TEXT);
CREATE TABLE IF NOT EXISTS artefacts (
  key TEXT NOT NULL, role TEXT NOT NULL, path TEXT, seconds REAL, info TEXT NOT NULL,
  run_id INTEGER, hash TEXT, PRIMARY KEY (key, role));
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

# schema version -> the statements that bring a store of that version to the next one
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2 -> 3: cache files carry their sha256 (NULL for files written before: they count as
    # unverified and are recomputed when needed); the file-hash cache is keyed on the inode
    # change time too (it is only a cache: dropped, images are hashed again once)
    2: ("ALTER TABLE encodings ADD COLUMN bytes_hash TEXT",
        "ALTER TABLE encodings ADD COLUMN decoded_hash TEXT",
        "ALTER TABLE artefacts ADD COLUMN hash TEXT",
        "DROP TABLE files"),
}


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """A one-line :class:`StoreError` for an SQLite error, saying what to do about it."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = text.lower()
    if "disk is full" in low or "disk i/o error" in low:
        hint = "free disk space and rerun: the run resumes where it stopped"
    elif "malformed" in low or "not a database" in low or "corrupt" in low:
        hint = "the file is damaged: move it aside and rerun (or rerun with --fresh)"
    elif "readonly" in low or "read-only" in low or "unable to open" in low:
        hint = "the results folder is not writable: choose another --out"
    elif "locked" in low or "busy" in low:
        hint = "another process holds it locked: wait for it, or use another --out"
    else:
        hint = "see the SQLite message"
    return StoreError(f"results store {path}: {text} ({hint})")


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
    bytes_hash: str | None = None      # sha256 of the bitstream file
    decoded_hash: str | None = None    # sha256 of the decoded PNG (when kept)


@dataclass(frozen=True)
class ArtefactRow:
    """An image produced by a stage, identified by (key, role): a low-res image or a solver output."""

    key: str
    role: str
    path: str | None
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)
    hash: str | None = None            # sha256 of the file at ``path``


@dataclass(frozen=True)
class ValueRow:
    """One metric value of the image at (key, role), measured against the original."""

    key: str
    role: str
    metric: str
    version: str
    value: float


class Store:
    """A results database at ``path`` (created if absent; an older schema is migrated).

    ``readonly=True`` opens it for reading only (``mode=ro``; ``immutable=1`` when the folder is
    not writable, as SQLite's WAL mode needs to create its shared-memory file otherwise): no
    migration, nothing written, so reports work on a read-only folder. Every SQLite error is
    raised as a one-line :class:`StoreError` (exit code 3)."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                self.db = self._connect_readonly()
                self.version = int(self._schema_version() or SCHEMA_VERSION)
                if self.version > SCHEMA_VERSION:
                    raise StoreError(f"{self.path} has store schema {self.version}, newer than this qbench "
                                     f"({SCHEMA_VERSION}); upgrade qbench to read it")
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self.db.executescript(SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self.version = SCHEMA_VERSION
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    def _connect_readonly(self) -> sqlite3.Connection:
        import os
        from urllib.parse import quote

        if not self.path.is_file():
            raise StoreError(f"no results store at {self.path}")
        uri = "file:" + quote(str(self.path.resolve()))
        if os.access(self.path.parent, os.W_OK):
            db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30.0, isolation_level=None)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError:
                db.close()
        # a read-only folder: SQLite cannot create the WAL index, so read the file as it is
        return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)

    def _migrate(self) -> None:
        """Bring an older store to :data:`SCHEMA_VERSION` (one transaction per step)."""
        while True:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")      # re-read under the lock: one migrator at a time
                row = self._schema_version()
                if row is None or int(row) == SCHEMA_VERSION:
                    return
                version = int(row)
                if version not in _MIGRATIONS:
                    raise StoreError(f"{self.path} has store schema {version}, this qbench writes {SCHEMA_VERSION}"
                                     "; use another --out folder or --fresh")
                for statement in _MIGRATIONS[version]:
                    self.db.execute(statement)
                self.db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version + 1),))

    def _schema_version(self) -> str | None:
        has_meta = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the database connection."""
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

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
        """Mark run ``run_id`` finished with ``status`` and its counts."""
        self.db.execute("UPDATE runs SET finished=?, status=?, counts_json=? WHERE run_id=?",
                        (time.time(), status, json.dumps(counts, sort_keys=True), run_id))

    def run(self, run_id: int) -> dict | None:
        """Run ``run_id`` as a dict of its columns (None if absent)."""
        cur = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row))

    def latest_run(self, suite_hash: str | None = None) -> dict | None:
        """The latest run (of ``suite_hash`` when given), or None."""
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
    def file_info(self, path: str, size: int, mtime_ns: int, ctime_ns: int, mode: str):
        """(pixel hash, H, W, C) of an image file hashed before with this size, modification
        and inode change time (``os.utime`` can restore the first two after an edit, not the third)."""
        return self.db.execute(
            "SELECT pixel_hash, height, width, channels FROM files WHERE path=? AND size=? AND "
            "mtime_ns=? AND ctime_ns=? AND mode=?", (path, size, mtime_ns, ctime_ns, mode)).fetchone()

    def put_file_info(self, path: str, size: int, mtime_ns: int, ctime_ns: int, mode: str, pixel_hash: str,
                      shape: tuple[int, int, int]) -> None:
        """Remember a dataset file's pixel hash under its size and times (so it is not hashed again)."""
        self.db.execute("INSERT OR REPLACE INTO files (path, size, mtime_ns, ctime_ns, mode, pixel_hash, height, "
                        "width, channels) VALUES (?,?,?,?,?,?,?,?,?)",
                        (path, size, mtime_ns, ctime_ns, mode, pixel_hash, *shape))

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
    def get_encodings(self, enc_keys: Iterable[str]) -> dict[str, EncodingRow]:
        """The stored encodings of ``enc_keys``, by key (absent keys left out)."""
        keys = list(dict.fromkeys(enc_keys))
        out: dict[str, EncodingRow] = {}
        hashes = "bytes_hash, decoded_hash" if self.version >= 3 else "NULL, NULL"
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for row in self.db.execute(
                    "SELECT enc_key, image_hash, codec, quality, nbytes, pixels, bpp, side_info, bytes_path, "
                    f"decoded_path, seconds, {hashes} FROM encodings "
                    f"WHERE enc_key IN ({','.join('?' * len(chunk))})", chunk):
                out[row[0]] = EncodingRow(*row[:7], json.loads(row[7]), *row[8:])
        return out

    def put_encoding(self, e: EncodingRow, run_id: int) -> None:
        """Insert or replace an encoding."""
        self.db.execute("INSERT OR REPLACE INTO encodings (enc_key, image_hash, codec, quality, nbytes, pixels, "
                        "bpp, side_info, bytes_path, decoded_path, seconds, run_id, bytes_hash, decoded_hash) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (e.enc_key, e.image_hash, e.codec, e.quality, e.nbytes, e.pixels, e.bpp,
                         json.dumps(e.side_info, default=str), e.bytes_path, e.decoded_path, e.seconds, run_id,
                         e.bytes_hash, e.decoded_hash))

    def _artefact_sql(self) -> str:
        return f"SELECT key, role, path, seconds, info, {'hash' if self.version >= 3 else 'NULL'} FROM artefacts"

    def get_artefacts(self, role: str | None = None) -> dict[str, ArtefactRow]:
        """Every stored artefact of ``role`` by key (of every role, by (key, role), when None)."""
        if role is None:
            return {(r[0], r[1]): ArtefactRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5])
                    for r in self.db.execute(self._artefact_sql())}
        return {r[0]: ArtefactRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in self.db.execute(
            self._artefact_sql() + " WHERE role=?", (role,))}

    def all_encodings(self) -> dict[str, EncodingRow]:
        """Every stored encoding by key."""
        return self.get_encodings(k for (k,) in self.db.execute("SELECT enc_key FROM encodings").fetchall())

    def put_artefact(self, a: ArtefactRow, run_id: int) -> None:
        """Insert or replace an artefact."""
        self.db.execute("INSERT OR REPLACE INTO artefacts (key, role, path, seconds, info, run_id, hash) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (a.key, a.role, a.path, a.seconds, json.dumps(a.info, sort_keys=True, default=str), run_id,
                         a.hash))

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
        """Insert or replace metric values."""
        self._many('INSERT OR REPLACE INTO "values" VALUES (?,?,?,?,?,?)',
                   [(r.key, r.role, r.metric, r.version, r.value, run_id) for r in rows])

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
        """Insert or replace a set-level value of ``group`` between two roles."""
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
        """Record a failed stage of ``key`` (the error truncated to 4000 characters)."""
        self.db.execute("INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?)",
                        (key, stage, detail, error[:4000], run_id, time.time()))

    def put_skipped_metric(self, suite_hash: str, metric: str, reason: str, run_id: int) -> None:
        """Record that ``metric`` was skipped in this suite, and why."""
        self.db.execute("INSERT OR REPLACE INTO skipped_metrics VALUES (?,?,?,?)",
                        (suite_hash, metric, reason, run_id))

    def clear_skipped_metrics(self, suite_hash: str) -> None:
        """Forget the skipped metrics of ``suite_hash`` (before a run records its own)."""
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
        """Delete the cost measurements of a component spec."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM costs WHERE spec_hash=?", (spec_hash,))

def _translating(fn):
    """Raise SQLite errors of a store method as one-line :class:`StoreError`\\s."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc
    return wrapper


for _name, _fn in list(vars(Store).items()):
    if callable(_fn) and not _name.startswith("__"):
        setattr(Store, _name, _translating(_fn))
