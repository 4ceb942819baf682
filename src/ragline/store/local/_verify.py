"""The local store's self-check: the ledger against what SQLite and its derived indexes hold.

    report = store.verify(ledger, repair=False)   # {"drift": 0, ...}  (VerifiableStore)

Checks are read-only: the ANN and BM25 indexes are read from disk as they are (after allowing
for changes the log says they have yet to apply). The ANN graph file must match the hash recorded
when it was written, and a sample of its vectors (``ANN_SAMPLE`` rows) must encode exactly as
SQLite's vectors for those rows do, so a tampered or bit-rotted index file is found. Repair
deletes orphan chunks, sends documents with missing chunks back to the next ingest, and rebuilds
derived indexes from SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.state.base import LedgerState
from ragline.store.local.ann import AnnIndex, graph_file_problem

if TYPE_CHECKING:
    from ragline.store.local.store import LocalStore

# Rows whose ANN vectors are compared with SQLite's on each verify (a random sample each time).
ANN_SAMPLE = 512


def _pending(store: LocalStore, since: int) -> tuple[set[int], set[int]]:
    rows = store.db.execute("SELECT op, chunk FROM changes WHERE namespace = ? AND seq > ?",
                            (store.namespace, since)).fetchall()
    return {c for op, c in rows if op == "add"}, {c for op, c in rows if op == "del"}


def _derived_drift(store: LocalStore, name: str, ids: set[int] | None, applied: int,
                   truth: set[int], problems: list[str]) -> int:
    if ids is None:
        return len(truth)
    compacted = int(store.get_meta("compacted_seq") or 0)
    if applied < compacted:
        problems.append(f"{name} index is older than the change log (applied {applied} < {compacted})")
        return max(1, len(truth ^ ids))
    adds, dels = _pending(store, applied)
    expected = (ids | adds) - dels
    missing, extra = truth - expected, expected - truth
    if missing:
        problems.append(f"{name} index lacks {len(missing)} chunk(s)")
    if extra:
        problems.append(f"{name} index holds {len(extra)} deleted chunk(s)")
    return len(missing) + len(extra)


def _ann_sample_drift(store: LocalStore, ann: AnnIndex, rows: set[int], problems: list[str]) -> int:
    """How many of a random sample of rows hold, in the ANN index, other codes than their SQLite
    vectors encode to (the index was built from exactly those vectors)."""
    from ragline.store.local.store import decode_vectors  # (store.py imports this module)

    if not rows:
        return 0
    pool = np.fromiter(rows, dtype=np.int64)
    sample = np.random.default_rng().choice(pool, min(ANN_SAMPLE, len(pool)), replace=False)
    found = dict(store._fetch_vector_rows(sample.tolist()))
    rowids = np.array([r for r in sample.tolist() if r in found], dtype=np.int64)
    vectors = decode_vectors([found[r] for r in rowids.tolist()], store.dim or 0)
    wrong = ann.code_mismatches(rowids, vectors)
    if wrong:
        problems.append(f"ann index holds other vectors than SQLite for {wrong} of {len(rowids)} sampled chunk(s)")
    return wrong


def check(store: LocalStore, ledger: LedgerState) -> dict[str, Any]:
    problems: list[str] = []
    rows = store.db.execute("SELECT id, chunk_id FROM chunks WHERE namespace = ?", (store.namespace,)).fetchall()
    truth = {r[0] for r in rows}
    stored_ids = {r[1] for r in rows}
    expected_ids: set[str] = set()
    missing_docs: list[str] = []
    for doc in ledger.all_documents():
        if doc.duplicate_of:
            continue
        expected_ids.update(doc.chunk_ids)
        if any(cid not in stored_ids for cid in doc.chunk_ids):
            missing_docs.append(doc.doc_id)
    orphans = stored_ids - expected_ids
    if missing_docs:
        problems.append(f"{len(missing_docs)} document(s) have chunks missing from the store")
    if orphans:
        problems.append(f"{len(orphans)} chunk(s) belong to no document in the ledger")

    if (store._ann is not None or store._bm25 is not None) and not store.read_only:
        store.flush()  # in-process indexes are newer than their files
    ann_path = store.index_dir / "ann.npz"
    sample_drift = 0
    try:
        with store._files.shared():  # no save replaces the files while they are read
            ann = AnnIndex.load(ann_path)
            damaged = graph_file_problem(ann_path)
        ann_ids, ann_seq = set(ann.position), ann.applied_seq
        if damaged:
            problems.append(damaged)
            sample_drift += 1
        sample_drift += _ann_sample_drift(store, ann, truth & ann_ids, problems)
    except FileNotFoundError:
        ann_ids, ann_seq = None, 0
        if truth:
            problems.append("ann index file is missing")
    except Exception as exc:  # noqa: BLE001 - a damaged file fails in many ways
        ann_ids, ann_seq = None, 0
        problems.append(f"ann index file is unreadable ({type(exc).__name__})")
    ann_drift = _derived_drift(store, "ann", ann_ids, ann_seq, truth, problems) + sample_drift

    try:
        bm25 = store.open_bm25_files()
        bm25_ids, bm25_seq = bm25.all_rowids(), bm25.applied_seq
        bm25.close()
    except FileNotFoundError:
        bm25_ids, bm25_seq = None, 0
        if truth:
            problems.append("bm25 index is missing")
    except Exception as exc:  # noqa: BLE001 - tantivy raises ValueError/OSError variants
        bm25_ids, bm25_seq = None, 0
        problems.append(f"bm25 index is unreadable ({type(exc).__name__})")
    bm25_drift = _derived_drift(store, "bm25", bm25_ids, bm25_seq, truth, problems)

    return {
        "chunks": len(truth),
        "documents": len(ledger.all_documents()),
        "missing_chunk_documents": missing_docs,
        "orphan_chunks": sorted(orphans),
        "ann_drift": ann_drift,
        "bm25_drift": bm25_drift,
        "drift": len(missing_docs) + len(orphans) + ann_drift + bm25_drift,
        "problems": problems,
    }


def verify(store: LocalStore, ledger: LedgerState, *, repair: bool = False) -> dict[str, Any]:
    result = check(store, ledger)
    if not repair or result["drift"] == 0:
        return result
    actions: list[str] = []
    with store.transaction():
        if result["orphan_chunks"]:
            store.delete_chunks(result["orphan_chunks"])
            actions.append(f"deleted {len(result['orphan_chunks'])} orphan chunk(s)")
        if result["missing_chunk_documents"]:
            docs = [ledger.document(d) for d in result["missing_chunk_documents"]]
            ledger.remove_documents([d.doc_id for d in docs if d])
            for doc in docs:
                if doc is not None:
                    store.delete([doc.doc_id])
                    ledger.reread_file(doc.file_uri)
            actions.append(f"{len(docs)} document(s) will be re-ingested by the next ingest")
    store.rebuild_indexes()
    actions.append("rebuilt the ann and bm25 indexes from SQLite")
    after = check(store, ledger)
    after["repaired"] = actions
    after["before"] = {k: result[k] for k in ("drift", "ann_drift", "bm25_drift", "problems")}
    return after


class VerifyingStore:
    """The ``VerifiableStore`` capability of the local store (a mixin of ``LocalStore``)."""

    def verify(self, ledger: LedgerState, *, repair: bool = False) -> dict[str, Any]:
        return verify(self, ledger, repair=repair)  # type: ignore[arg-type]  # self is a LocalStore
