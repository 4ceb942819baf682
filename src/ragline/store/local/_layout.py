"""Where a namespace's derived indexes live on disk, and the lock that guards them.

    name = index_dir_name(db, "my docs", create=True)     # 'my_docs~1f3c...', recorded in SQLite
    with IndexLock(store_path / "index" / name / ".lock").exclusive(): ...

A namespace is any Unicode string; its folder under ``index/`` is chosen once and recorded in
the ``namespace_dirs`` table, whose UNIQUE constraint makes the mapping injective whatever the
names: two namespaces never share a folder. A name made only of ``[A-Za-z0-9_-]`` (at most 64
characters) keeps its own name as its folder, as before; any other name gets a readable slug, a
``~`` (which no plain name holds) and a 64-bit hash of the name, and a counter on the rare hash
or case collision. Stores laid out before the table existed are migrated once, on open.

The lock (``flock``) is what lets several processes open, sync or rebuild one namespace's
indexes at once: writers of the derived files (tantivy's writer, the ANN save, a rebuild) hold
it exclusively; readers of the ANN files hold it shared, so no save removes a graph file between
reading the row map that names it and reading the graph.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import xxhash

from ragline.errors import ConfigError

NAMESPACE_SCHEMA = """
CREATE TABLE IF NOT EXISTS namespace_dirs (namespace TEXT PRIMARY KEY, dir TEXT NOT NULL UNIQUE)
"""
_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MIGRATED = "namespace_dirs_migrated"
# Per-namespace meta keys ('<namespace>:<key>'), used to find the namespaces of an old store.
_NAMESPACE_KEYS = ("config", "dim", "vector_dtype", "compacted_seq", "multivector", "lsh_layout")
_NAMESPACE_TABLES = ("chunks", "documents", "files", "changes", "dead_letter", "minhash")


def check_namespace(namespace: object) -> str:
    """Any string SQLite can hold: UTF-8 encodable (no lone surrogates, e.g. from undecodable argv)."""
    if not isinstance(namespace, str):
        raise ConfigError(f"a namespace is a string, not {type(namespace).__name__}")
    try:
        namespace.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"namespace {namespace!r} is not valid Unicode text ({exc.reason})") from exc
    return namespace


def legacy_dir_name(namespace: str) -> str:
    """The folder stores made before ``namespace_dirs`` used (not injective: 'a b' and 'a_b' met)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", namespace)


def proposed_dir_name(namespace: str, attempt: int = 0) -> str:
    if attempt == 0 and _PLAIN.fullmatch(namespace):
        return namespace
    slug = legacy_dir_name(namespace).strip("_")[:32]
    digest = xxhash.xxh3_64_hexdigest(namespace.encode("utf-8"))
    return f"{slug}~{digest}" + (f"~{attempt}" if attempt > 1 else "")


def _taken(db: sqlite3.Connection, name: str) -> bool:
    # Case-insensitively: on a case-insensitive file system 'A' and 'a' are one folder.
    return db.execute("SELECT 1 FROM namespace_dirs WHERE dir = ? COLLATE NOCASE", (name,)).fetchone() is not None


def recorded_dir_name(db: sqlite3.Connection, namespace: str) -> str | None:
    try:
        row = db.execute("SELECT dir FROM namespace_dirs WHERE namespace = ?", (namespace,)).fetchone()
    except sqlite3.OperationalError:  # a read-only store made before the table existed
        return None
    return row[0] if row else None


def index_dir_name(db: sqlite3.Connection, namespace: str) -> str:
    """The namespace's folder name, recorded now if it has none yet (call outside a transaction)."""
    name = recorded_dir_name(db, namespace)
    if name is not None:
        return name
    db.execute("BEGIN IMMEDIATE")
    try:
        name = recorded_dir_name(db, namespace)
        if name is None:
            attempt = 0
            while _taken(db, name := proposed_dir_name(namespace, attempt)):
                attempt += 1
            db.execute("INSERT INTO namespace_dirs VALUES (?, ?)", (namespace, name))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    assert name is not None
    return name


def known_namespaces(db: sqlite3.Connection) -> set[str]:
    """Every namespace the store holds anything for."""
    names: set[str] = set()
    for table in _NAMESPACE_TABLES:
        names.update(r[0] for r in db.execute(f"SELECT DISTINCT namespace FROM {table}"))
    for (key,) in db.execute("SELECT key FROM meta"):
        namespace, sep, suffix = key.rpartition(":")
        if sep and suffix in _NAMESPACE_KEYS:
            names.add(namespace)
    try:
        names.update(r[0] for r in db.execute("SELECT namespace FROM namespace_dirs"))
    except sqlite3.OperationalError:
        pass
    return names


def legacy_claims(db: sqlite3.Connection, index_root: Path) -> dict[str, str]:
    """{namespace: old folder} for the old folders exactly one known namespace mapped to. A folder
    two or more names mapped to holds whichever wrote last: nobody may keep it."""
    groups: dict[str, list[str]] = {}
    for namespace in known_namespaces(db):
        groups.setdefault(legacy_dir_name(namespace), []).append(namespace)
    return {names[0]: folder for folder, names in groups.items()
            if len(names) == 1 and folder and (index_root / folder).is_dir()}


def migrate_layout(db: sqlite3.Connection, index_root: Path) -> None:
    """Record the folder of every namespace of a store laid out the old way (once, on open).

    A folder that exactly one namespace used stays that namespace's; folders shared by several
    names (or by none) are removed: they are derived data, and each namespace rebuilds its own
    indexes from SQLite in a folder of its own the next time it is opened."""
    if db.execute("SELECT 1 FROM meta WHERE key = ?", (_MIGRATED,)).fetchone():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT 1 FROM meta WHERE key = ?", (_MIGRATED,)).fetchone():
            db.execute("COMMIT")
            return
        claims = legacy_claims(db, index_root)
        db.executemany("INSERT OR IGNORE INTO namespace_dirs VALUES (?, ?)", sorted(claims.items()))
        kept = {r[0] for r in db.execute("SELECT dir FROM namespace_dirs")}
        if index_root.is_dir():
            for folder in index_root.iterdir():
                if folder.is_dir() and folder.name not in kept:
                    shutil.rmtree(folder)
        db.execute("INSERT INTO meta VALUES (?, '1')", (_MIGRATED,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def read_only_dir_name(db: sqlite3.Connection, index_root: Path, namespace: str) -> str | None:
    """The folder of ``namespace`` in a store that cannot be written (nothing is recorded)."""
    name = recorded_dir_name(db, namespace)
    if name is not None:
        return name
    migrated = db.execute("SELECT 1 FROM meta WHERE key = ?", (_MIGRATED,)).fetchone()
    return None if migrated else legacy_claims(db, index_root).get(namespace)


class IndexLock:
    """An inter-process lock on one namespace's derived-index files (``flock``), re-entrant
    within a thread; threads of one process take turns (the flock is the process's)."""

    def __init__(self, path: Path | None):
        self.path = path   # None: a read-only store, where no one writes the files
        self._fd: int | None = None
        self._depth = 0
        self._mode = fcntl.LOCK_UN
        self._threads = threading.RLock()

    def _flock(self, mode: int) -> None:
        if self.path is None:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, mode)

    @contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        with self._threads:
            yield from self._hold_flock(mode)

    def _hold_flock(self, mode: int) -> Iterator[None]:
        previous = self._mode
        if self._depth and (previous == fcntl.LOCK_EX or previous == mode):
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._flock(mode)  # first hold, or shared -> exclusive (flock converts the lock)
        self._mode, self._depth = mode, self._depth + 1
        try:
            yield
        finally:
            self._depth -= 1
            self._mode = previous if self._depth else fcntl.LOCK_UN
            self._flock(self._mode)

    def shared(self) -> AbstractContextManager[None]:
        return self._hold(fcntl.LOCK_SH)

    def exclusive(self) -> AbstractContextManager[None]:
        return self._hold(fcntl.LOCK_EX)

    def try_exclusive(self) -> bool:
        """Take the lock exclusively if no one holds it (release with ``release``); for the
        owner's own use before any other thread can see it."""
        if self.path is None or self._depth:
            return False
        try:
            self._flock(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._mode, self._depth = fcntl.LOCK_EX, 1
        return True

    def release(self) -> None:
        self._depth, self._mode = 0, fcntl.LOCK_UN
        self._flock(fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def remove_leftovers(index_dir: Path) -> list[str]:
    """Delete what an interrupted save left in ``index_dir`` (call holding the lock exclusively):
    partial files, and ANN graph files the row map does not name. Returns what went."""
    removed: list[str] = []
    if not index_dir.is_dir():
        return removed
    named = _named_graph(index_dir / "ann.npz")
    for entry in index_dir.iterdir():
        stale = ".partial" in entry.name or (named is not None and entry.name != named
                                              and entry.name.startswith("ann-") and entry.name.endswith(".faiss"))
        if stale and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    bm25_partial = index_dir / "bm25" / "ragline-applied.partial"
    if bm25_partial.exists():
        bm25_partial.unlink(missing_ok=True)
        removed.append("bm25/" + bm25_partial.name)
    return removed


def uncommitted_segment_files(bm25_dir: Path) -> list[str]:
    """tantivy segment files no commit refers to (what a failed commit wrote; tantivy's own
    garbage collection removes them)."""
    import json

    if not bm25_dir.is_dir():
        return []
    try:
        meta = json.loads((bm25_dir / "meta.json").read_text())
        live = {str(seg["segment_id"]).replace("-", "") for seg in meta.get("segments", [])}
    except FileNotFoundError:
        live = set()  # no commit at all
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []  # unreadable: the store rebuilds the whole index
    return [entry.name for entry in bm25_dir.iterdir()
            if not entry.name.startswith(".") and "." in entry.name
            and len(entry.name.split(".", 1)[0]) == 32 and entry.name.split(".", 1)[0] not in live]


def _named_graph(row_map: Path) -> str | None:
    """The graph file ``ann.npz`` names ('' for none); None when it cannot be read (keep all)."""
    import numpy as np

    if not row_map.exists():
        return ""
    try:
        with np.load(row_map, allow_pickle=False) as data:
            return str(data["graph_file"]) if "graph_file" in data.files else ""
    except Exception:  # noqa: BLE001 - a damaged map: leave the graphs for the rebuild to replace
        return None


def check_store_folder(path: Path) -> None:
    """A store is a folder (made on first write); anything else at its path is a usage error."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"store path {path} is a file, not a folder: give the folder that holds "
                          "(or will hold) ragline.db")
    db_file = path / "ragline.db"
    if db_file.exists() and not db_file.is_file():
        raise ConfigError(f"{db_file} is not a regular file; is {path} a ragline store?")


def writable(path: Path) -> bool:
    """Whether this process may write the store (False on a read-only mount, even for root)."""
    db_file = path / "ragline.db"
    if not db_file.exists():
        return True  # to be created; a failure then is an error worth seeing
    return os.access(path, os.W_OK) and os.access(db_file, os.W_OK)


def copy_for_reading(source: Path, scratch: Path) -> Path:
    """Copy a tantivy index from a read-only folder (tantivy opens lock files even to read)."""
    import tempfile

    target = Path(tempfile.mkdtemp(dir=scratch)) / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".tantivy-*.lock"))
    return target


def remove_uncommitted_segments(bm25_dir: Path) -> None:
    """Delete tantivy segment files that no commit refers to (a failed or killed commit wrote
    them). Call holding the index lock exclusively, with no writer of this process open."""
    for name in uncommitted_segment_files(bm25_dir):
        (bm25_dir / name).unlink(missing_ok=True)
