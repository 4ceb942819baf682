"""The Milvus store's self-check (``VerifiableStore``): the ledger against the collection.

    report = store.verify(ledger, repair=False)   # {"drift": 0, "problems": [], ...}

Checks, for the store's namespace: every chunk of every stored (non-duplicate) ledger document is
in the collection under that document's id; no chunk in the collection belongs to a document the
ledger does not hold (orphans, e.g. after a crash while replaced chunks were being removed);
``count(*)`` agrees with the rows a full scan returns; and a sample of stored vectors has the
collection's dimension and unit length (ragline stores L2-normalised vectors). Repair deletes the
orphans and sends documents with missing chunks back to the next ingest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.state.base import LedgerState
from ragline.store._milvus_expr import literal

if TYPE_CHECKING:
    from ragline.store.milvus import MilvusStore

# Stored vectors whose dimension and norm are checked on each verify (a random sample).
VECTOR_SAMPLE = 512
NORM_TOLERANCE = 1e-3


def scan(store: MilvusStore) -> dict[str, str]:
    """chunk_id -> doc_id of every row in the store's namespace."""
    if not store._ready():
        return {}
    iterator = store._call("scan", "query_iterator", store.collection, batch_size=4096,
                           filter=f"namespace == {literal(store.namespace)}", output_fields=["chunk_id", "doc_id"])
    rows: dict[str, str] = {}
    try:
        while batch := iterator.next():
            rows.update((r["chunk_id"], r["doc_id"]) for r in batch)
    finally:
        iterator.close()
    return rows


def _vector_problems(store: MilvusStore, chunk_ids: list[str], problems: list[str]) -> int:
    if not chunk_ids or store.dim is None:
        return 0
    rng = np.random.default_rng()
    sample = [chunk_ids[i] for i in rng.choice(len(chunk_ids), min(VECTOR_SAMPLE, len(chunk_ids)), replace=False)]
    rows = store._rows(sample, ["chunk_id", "vector"])
    wrong_dim = [c for c, r in rows.items() if len(r["vector"]) != store.dim]
    vectors = [np.asarray(r["vector"], dtype=np.float32) for c, r in rows.items() if c not in wrong_dim]
    norms = np.linalg.norm(np.vstack(vectors), axis=1) if vectors else np.zeros(0)
    not_unit = int(np.count_nonzero(np.abs(norms - 1.0) > NORM_TOLERANCE))
    if wrong_dim:
        problems.append(f"{len(wrong_dim)} of {len(rows)} sampled vector(s) are not {store.dim}-d")
    if not_unit:
        problems.append(f"{not_unit} of {len(rows)} sampled vector(s) are not unit length")
    return len(wrong_dim) + not_unit


def check(store: MilvusStore, ledger: LedgerState) -> dict[str, Any]:
    problems: list[str] = []
    stored = scan(store)
    documents = ledger.all_documents()
    expected: dict[str, str] = {}
    missing_docs: list[str] = []
    for doc in documents:
        if doc.duplicate_of:
            continue
        expected.update((cid, doc.doc_id) for cid in doc.chunk_ids)
        if any(stored.get(cid) != doc.doc_id for cid in doc.chunk_ids):
            missing_docs.append(doc.doc_id)
    orphans = sorted(cid for cid, doc_id in stored.items() if expected.get(cid) != doc_id)
    if missing_docs:
        problems.append(f"{len(missing_docs)} document(s) have chunks missing from Milvus")
    if orphans:
        problems.append(f"{len(orphans)} chunk(s) in Milvus belong to no document in the ledger")
    counted = store.count()
    count_drift = abs(counted - len(stored))
    if count_drift:
        problems.append(f"count(*) says {counted} chunk(s) but a scan returns {len(stored)}")
    vector_drift = _vector_problems(store, sorted(stored), problems)
    return {
        "chunks": len(stored),
        "documents": len(documents),
        "dim": store.dim,
        "missing_chunk_documents": missing_docs,
        "orphan_chunks": orphans,
        "count_drift": count_drift,
        "vector_drift": vector_drift,
        "drift": len(missing_docs) + len(orphans) + count_drift + vector_drift,
        "problems": problems,
    }


def verify(store: MilvusStore, ledger: LedgerState, *, repair: bool = False) -> dict[str, Any]:
    result = check(store, ledger)
    if not repair or result["drift"] == 0:
        return result
    actions: list[str] = []
    if result["orphan_chunks"]:
        with store.transaction():
            store.delete_chunks(result["orphan_chunks"])
        actions.append(f"deleted {len(result['orphan_chunks'])} orphan chunk(s)")
    docs = [d for d in (ledger.document(doc_id) for doc_id in result["missing_chunk_documents"]) if d is not None]
    if docs:
        with store.transaction():
            store.delete([d.doc_id for d in docs])  # the chunks they still have: re-ingest writes all
        ledger.remove_documents([d.doc_id for d in docs])
        for doc in docs:
            ledger.reread_file(doc.file_uri)
        actions.append(f"{len(docs)} document(s) will be re-ingested by the next ingest")
    if result["vector_drift"]:
        actions.append("vectors of the wrong shape or length are not repaired here: re-ingest into a new store")
    store.flush()
    after = check(store, ledger)
    after["repaired"] = actions
    after["before"] = {k: result[k] for k in ("drift", "count_drift", "vector_drift", "problems")}
    return after
