"""verify checks the ANN index's vectors against SQLite's (issue 10 item 12): a bit-rotted graph
file (hash) and a tampered but well-formed one (a sample of codes) are found, and --repair
rebuilds them."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.engine import Engine
from ragline.store.local.ann import VECTOR_DTYPES, AnnIndex


@pytest.fixture()
def built(tmp_path, corpus):
    def build(dtype: str):
        store = tmp_path / f"store-{dtype}"
        with Engine.open(f"local:{store}", embedder="hashing:64", parse_workers=0, vector_dtype=dtype) as engine:
            engine.ingest([corpus / "good"])
            expected = [h.chunk.chunk_id for h in engine.search("license terms", 5, mode="dense")]
            assert engine.verify()["drift"] == 0
            return store, engine.store.index_dir, expected
    return build


def _reopen(store):
    return Engine.open(f"local:{store}", embedder="hashing:64")


@pytest.mark.parametrize("dtype", VECTOR_DTYPES)
@pytest.mark.parametrize("where", ["links", "codes"])
def test_a_bit_rotted_graph_file_is_found_and_repaired(built, dtype, where):
    """Flipped bits in the HNSW links, or in the vector codes stored at the end of the file:
    faiss reads either file without complaint."""
    store, index_dir, expected = built(dtype)
    graph = next(index_dir.glob("ann-*.faiss"))
    data = bytearray(graph.read_bytes())
    start = len(data) // 3 if where == "links" else len(data) - 200
    for offset in range(start, start + 64, 8):  # flip bits, keep the size
        data[offset] ^= 0x10
    graph.write_bytes(bytes(data))
    with _reopen(store) as engine:
        found = engine.verify()
        assert found["drift"] > 0 and found["ann_drift"] > 0
        assert any("ann" in problem for problem in found["problems"]), found["problems"]
        repaired = engine.verify(repair=True)
        assert repaired["drift"] == 0 and repaired["repaired"]
    with _reopen(store) as engine:
        assert engine.verify()["drift"] == 0
        assert [h.chunk.chunk_id for h in engine.search("license terms", 5, mode="dense")] == expected


@pytest.mark.parametrize("dtype", VECTOR_DTYPES)
def test_a_tampered_index_with_a_valid_hash_is_found_by_the_vector_sample(built, dtype):
    """Rewrite the index, well-formed and with its own hash, holding other vectors for its rows:
    only comparing its codes with SQLite's vectors can tell."""
    store, index_dir, expected = built(dtype)
    original = AnnIndex.load(index_dir / "ann.npz")
    rowids = original.rowids[original.alive]
    other = np.random.default_rng(3).standard_normal((len(rowids), original.dim or 0)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    forged = AnnIndex(original.dim, dtype)
    forged.add(rowids, other)
    forged.applied_seq = original.applied_seq
    forged.save(index_dir / "ann.npz")
    with _reopen(store) as engine:
        found = engine.verify()
        assert found["ann_drift"] > 0
        assert any("other vectors than SQLite" in problem for problem in found["problems"]), found["problems"]
        assert engine.verify(repair=True)["drift"] == 0
    with _reopen(store) as engine:
        assert engine.verify()["drift"] == 0
        assert [h.chunk.chunk_id for h in engine.search("license terms", 5, mode="dense")] == expected


def test_a_sound_index_passes_the_sample_for_every_row(built):
    from ragline.store.local.store import decode_vectors

    store, index_dir, _ = built("int8")
    ann = AnnIndex.load(index_dir / "ann.npz")
    with _reopen(store) as engine:
        rows = engine.store.db.execute("SELECT id, vector FROM chunks").fetchall()
        vectors = decode_vectors([r[1] for r in rows], ann.dim or 0)
        assert ann.code_mismatches(np.array([r[0] for r in rows], dtype=np.int64), vectors) == 0
        shuffled = vectors[::-1].copy()
        assert ann.code_mismatches(np.array([r[0] for r in rows], dtype=np.int64), shuffled) > len(rows) // 2
