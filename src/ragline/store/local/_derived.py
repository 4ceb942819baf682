"""The local store's derived-index files: loading, building once across processes, saving,
and what a failed write leaves behind.

    ann = store.ann        # loaded, or built from SQLite by one process while others wait
    bm25 = store.bm25

Mixed into ``LocalStore``; every write of these files holds the namespace's ``IndexLock``
exclusively, every read of the ANN files holds it shared (see ``_layout.py``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragline._faults import crashpoint
from ragline.errors import StoreError
from ragline.store.base import metadata_tags
from ragline.store.local._layout import (
    IndexLock,
    copy_for_reading,
    remove_uncommitted_segments,
)
from ragline.store.local.ann import AnnIndex, DtypeChanged
from ragline.store.local.bm25 import Bm25Index


class DerivedIndexFiles:
    """Mixed into ``LocalStore``."""

    db: sqlite3.Connection
    index_dir: Path
    read_only: bool
    vector_dtype: str
    problems: list[str]
    _files: IndexLock
    _lock: threading.RLock
    _ann: AnnIndex | None
    _ann_saved: tuple[AnnIndex, int] | None
    _bm25: Bm25Index | None
    _scratch: Path | None

    if False:  # for type checkers: provided by LocalStore
        def count(self) -> int: ...
        def _build_ann(self) -> AnnIndex: ...
        def _max_seq(self) -> int: ...
        def _iter_rows(self, columns: str) -> Iterator[list[tuple]]: ...

    @property
    def ann(self) -> AnnIndex:
        """The ANN index: loaded from its file, or (missing, damaged, another dtype) rebuilt
        from SQLite by one process while the others wait for its file, then load it."""
        if self._ann is None:
            with self._files.shared():
                ann = self._load_ann(note_problems=True)
            if ann is None:
                with self._files.exclusive():
                    ann = self._load_ann(note_problems=False)  # built by another process meanwhile?
                    if ann is None:
                        ann = self._build_ann()
                        if not self.read_only:
                            self._save_ann(ann)
            self._ann = ann
        return self._ann

    def _load_ann(self, note_problems: bool) -> AnnIndex | None:
        try:
            ann = AnnIndex.load(self.index_dir / "ann.npz", self.vector_dtype)
            self._ann_saved = (ann, ann.applied_seq)
            return ann
        except DtypeChanged:
            return None  # the dtype was changed: re-quantize from SQLite
        except FileNotFoundError:
            if note_problems and self.count():
                self.problems.append("ann index file is missing")
        except Exception as exc:  # noqa: BLE001 - a damaged file can fail in many ways
            if note_problems:
                self.problems.append(f"ann index file is unreadable ({type(exc).__name__}: {exc})")
        return None

    def _save_ann(self, ann: AnnIndex) -> None:
        with self._files.exclusive():
            try:
                ann.save(self.index_dir / "ann.npz")
                self._ann_saved = (ann, ann.applied_seq)
            except OSError as exc:
                raise StoreError(f"cannot write the ANN index in {self.index_dir}: {exc}") from exc
            except RuntimeError as exc:  # faiss reports a failed write so, without the errno
                free = shutil.disk_usage(self.index_dir).free
                raise StoreError(f"cannot write the ANN index in {self.index_dir}: the write failed "
                                 f"({free} bytes free on its disk)") from exc

    def open_bm25_files(self) -> Bm25Index:
        """The BM25 index as it is on disk (FileNotFoundError when there is none). On a read-only
        store, a private copy of it (tantivy opens lock files even to read)."""
        path = self.index_dir / "bm25"
        if not (path / "meta.json").is_file():
            raise FileNotFoundError(path)
        if self.read_only:
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="ragline-readonly-"))
            path = copy_for_reading(path, self._scratch)
        return Bm25Index(path)

    @property
    def bm25(self) -> Bm25Index:
        if self._bm25 is None:
            with self._files.exclusive() if not self.read_only else self._lock:
                try:
                    self._bm25 = self.open_bm25_files()
                    self._bm25.num_docs()
                    if self._bm25.applied_seq == 0 and self.count():
                        self.problems.append("bm25 index is missing")
                        self._rebuild_bm25()
                except FileNotFoundError:
                    if self.count():
                        self.problems.append("bm25 index is missing")
                    self._rebuild_bm25()
                except Exception as exc:  # noqa: BLE001 - tantivy raises ValueError/OSError variants
                    self.problems.append(f"bm25 index is unreadable ({type(exc).__name__}: {exc})")
                    self._rebuild_bm25()
        assert self._bm25 is not None
        return self._bm25

    def _rebuild_bm25(self) -> None:
        """Refill the BM25 index from SQLite. A readable index is emptied and refilled by one
        commit, so readers see the old index until the new one is complete; only an unreadable
        one is deleted first. Read-only stores build theirs in a private folder."""
        with self._files.exclusive():
            if self._bm25 is not None:
                self._bm25.close()
                self._bm25 = None
            if self.read_only:
                if self._scratch is None:
                    self._scratch = Path(tempfile.mkdtemp(prefix="ragline-readonly-"))
                path = self._scratch / "bm25"
                Bm25Index.destroy(path)
            else:
                path = self.index_dir / "bm25"
            try:
                index = Bm25Index(path)
                index.clear()
            except Exception:  # noqa: BLE001 - unreadable or built with another analyzer
                Bm25Index.destroy(path)
                index = Bm25Index(path)
            self._bm25 = index
            seq = self._max_seq()
            try:
                for rows in self._iter_rows("id, text, metadata, doc_id"):
                    index.add([(r[0], r[1], metadata_tags({**json.loads(r[2]), "doc_id": r[3]})) for r in rows])
                    crashpoint("index")
                index.commit(seq)
            except (OSError, ValueError) as exc:
                index.close()
                self._bm25 = None
                remove_uncommitted_segments(path)  # what the failed commit wrote
                raise StoreError(f"cannot write the BM25 index in {path}: {exc}") from exc

    @contextmanager
    def _index_errors(self) -> Iterator[None]:
        """tantivy's write failures (disk full, I/O error) as a StoreError; the index is reopened
        from its last commit by the next use."""
        try:
            yield
        except (OSError, ValueError) as exc:
            if self._bm25 is not None:
                self._bm25.close()
                self._bm25 = None
                remove_uncommitted_segments(self.index_dir / "bm25")  # what the failed commit wrote
            raise StoreError(f"cannot update the indexes in {self.index_dir}: {exc}") from exc
