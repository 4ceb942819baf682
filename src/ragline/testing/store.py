"""StoreContract: the behaviour every store backend must have, shipped so that a third-party
backend runs the same tests as the built-in ones.

    class TestMyStore(StoreContract):
        @pytest.fixture()
        def make_store(self, tmp_path):          # a fresh, empty store
            return lambda: MyStore(tmp_path / "s")

        @pytest.fixture()
        def reopen(self, tmp_path):              # the same store, opened again
            return lambda: MyStore(tmp_path / "s")

It covers upsert (re-upsert is a no-op), delete by document and by chunk, every form of the
filter language (``ragline.store.filters``) inside both retrievers, dense and BM25 search and the
shape of their hits, the candidate lists that fusion reads, ``get``, ``count``, a failed
transaction and persistence across a reopen. ``make_chunks`` and ``vectors_for`` build
deterministic chunks and unit vectors for a backend's own tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ragline.errors import QueryError, StoreError
from ragline.ids import content_hash, make_chunk_id, make_doc_id
from ragline.records import Chunk

DIM = 16

__all__ = ["DIM", "FILTER_CASES", "StoreContract", "make_chunks", "vectors_for"]


def make_chunks(doc: str, texts: list[str], **metadata: Any) -> list[Chunk]:
    """Chunks of one document ``doc`` (its uri), with ``metadata`` on every chunk."""
    doc_id = make_doc_id("test", doc)
    chunks = []
    for i, text in enumerate(texts):
        h = content_hash(text)
        chunks.append(Chunk(make_chunk_id(doc_id, i, h), doc_id, i, text, 0, len(text), len(text.split()), h,
                            {"uri": doc, **metadata}))
    return chunks


def vectors_for(chunks: list[Chunk]) -> np.ndarray:
    """One unit vector per chunk, a pure function of its content (DIM dimensions)."""
    out = np.stack([np.random.default_rng(int(c.content_hash[:8], 16)).standard_normal(DIM) for c in chunks])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


# The corpus of the filter table: one chunk per document, each text holding "common".
FILTER_DOCS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "a": ("file:///docs/100%_done/a.md", "alpha wing pressure common",
          {"kind": "md", "year": 1990, "date": "2021-03-01", "page": 3, "lang": "en"}),
    "b": ("file:///docs/100%_done/b.md", "beta wing flutter common",
          {"kind": "md", "year": "1995", "date": "2021-06-15T12:00:00Z", "lang": "de"}),
    "c": ("file:///docs/other/c.pdf", "gamma shock wave common", {"kind": "pdf", "year": 2005, "page": 7}),
    "d": ("file:///docsx/d.txt", "delta laminar flow common", {"kind": "txt"}),
}

# (filter, the documents it must match): every operator, numbers and numeric strings, ISO dates,
# prefixes holding LIKE wildcards, negations of keys some chunks lack, and lists (ANDed).
FILTER_CASES: list[tuple[Any, str]] = [
    ({"kind": "md"}, "ab"),
    ({"kind": {"eq": "pdf"}}, "c"),
    ({"kind": {"ne": "md"}}, "cd"),
    ({"kind": {"in": ["pdf", "txt"]}}, "cd"),
    ({"kind": {"not_in": ["pdf", "txt"]}}, "ab"),
    ({"kind": "nothing"}, ""),
    ({"lang": {"ne": "de"}}, "acd"),
    ({"lang": {"not_in": ["de", "fr"]}}, "acd"),
    ({"year": 1995}, "b"),
    ({"year": "1990"}, "a"),
    ({"year": {"gte": 1995}}, "bc"),
    ({"year": {"gt": 1990, "lt": 2000}}, "b"),
    ({"year": {"lte": "1995"}}, "ab"),
    ({"page": {"gte": 5}}, "c"),
    ({"date": {"gte": "2021-04-01"}}, "b"),
    ({"date": {"lte": "2021-06-15"}}, "a"),
    ({"date": {"lt": "2021-06-15T13:00:00+01:00"}}, "a"),
    ({"date": {"gt": "2021-03-01T00:00:00Z"}}, "b"),
    ({"uri": {"prefix": "file:///docs/"}}, "abc"),
    ({"uri": {"prefix": "file:///docs/100%_done/"}}, "ab"),
    ({"uri": {"prefix": "file:///docs/1_0"}}, ""),
    ({"uri": {"prefix": "file:///docs/%"}}, ""),
    ({"kind": {"prefix": "m"}}, "ab"),
    ({"not": {"kind": "md"}}, "cd"),
    ({"not": {"kind": "md", "lang": "de"}}, "acd"),
    ({"not": [{"kind": "md"}, {"kind": "pdf"}]}, "d"),
    ([{"kind": {"in": ["md", "pdf"]}}, {"not": {"page": 3}}], "bc"),
    ([{"year": {"gte": 1990}}, {"year": {"lt": 2000}}], "ab"),
]


class StoreContract:
    """Subclass it and provide the ``make_store`` and ``reopen`` fixtures (see the module doc)."""

    @pytest.fixture()
    def store(self, make_store):
        store = make_store()
        yield store
        store.close()

    def populate(self, store):
        a = make_chunks("file:///a.txt", ["the cat sat on the mat", "dogs chase cats in the park"], kind="txt")
        b = make_chunks("file:///b.pdf", ["aerodynamic heating of blunt bodies", "boundary layer transition"],
                        kind="pdf", page=3)
        with store.transaction():
            assert store.upsert(a, vectors_for(a)) == 2
            assert store.upsert(b, vectors_for(b)) == 2
        return a, b

    def populate_filters(self, store) -> dict[str, Chunk]:
        chunks = {name: make_chunks(uri, [text], **metadata)[0] for name, (uri, text, metadata) in FILTER_DOCS.items()}
        assert store.upsert(list(chunks.values()), vectors_for(list(chunks.values()))) == len(chunks)
        return chunks

    # ----- writes --------------------------------------------------------------------------
    def test_upsert_and_count(self, store):
        self.populate(store)
        assert store.count() == 4

    def test_reupsert_is_a_noop(self, store):
        a, _ = self.populate(store)
        assert store.upsert(a, vectors_for(a)) == 0
        assert store.count() == 4
        assert len(store.search_vector(vectors_for(a)[0], 10)) == 4

    def test_upsert_counts_only_new_chunks(self, store):
        a, b = self.populate(store)
        c = make_chunks("file:///c.txt", ["shock waves in supersonic nozzles"])
        assert store.upsert(a[:1] + c + b[1:], vectors_for(a[:1] + c + b[1:])) == 1
        assert store.count() == 5
        assert store.upsert([], np.zeros((0, DIM), dtype=np.float32)) == 0

    def test_upsert_refuses_mismatched_vectors(self, store):
        a = make_chunks("file:///a.txt", ["one", "two"])
        with pytest.raises(StoreError):
            store.upsert(a, vectors_for(a)[:1])

    def test_delete_removes_from_every_retriever(self, store):
        a, b = self.populate(store)
        assert store.delete([a[0].doc_id]) == 2
        assert store.count() == 2
        assert all(h.chunk.doc_id != a[0].doc_id for h in store.search_vector(vectors_for(a)[0], 10))
        assert store.search_text("cats", 10) == []
        assert store.get([c.chunk_id for c in a]) == []

    def test_delete_of_unknown_documents_removes_nothing(self, store):
        a, b = self.populate(store)
        assert store.delete([make_doc_id("test", "file:///nowhere.txt")]) == 0
        assert store.delete([]) == 0
        assert store.delete([a[0].doc_id, b[0].doc_id]) == 4
        assert store.count() == 0

    def test_delete_chunks(self, store):
        a, _ = self.populate(store)
        assert store.delete_chunks([a[1].chunk_id]) == 1
        assert [c.chunk_id for c in store.get([a[0].chunk_id, a[1].chunk_id])] == [a[0].chunk_id]
        assert store.delete_chunks([a[1].chunk_id, "missing"]) == 0
        assert store.count() == 3
        assert all(h.chunk.chunk_id != a[1].chunk_id for h in store.search_text("dogs cats park", 10))

    def test_failed_transaction_leaves_nothing(self, store):
        a = make_chunks("file:///a.txt", ["one", "two"])
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.upsert(a, vectors_for(a))
                raise RuntimeError("boom")
        assert store.count() == 0

    # ----- reads ---------------------------------------------------------------------------
    def test_get_returns_chunks_in_request_order(self, store):
        a, b = self.populate(store)
        got = store.get([b[1].chunk_id, a[0].chunk_id, "missing"])
        assert [c.chunk_id for c in got] == [b[1].chunk_id, a[0].chunk_id]
        assert got[0].text == "boundary layer transition" and got[0].metadata["page"] == 3
        assert got == [b[1], a[0]]  # every field round-trips, metadata types included

    def test_vector_search_finds_the_vector_itself(self, store):
        a, b = self.populate(store)
        for chunk, vector in zip(a + b, vectors_for(a + b)):
            hits = store.search_vector(vector, 1)
            assert hits[0].chunk.chunk_id == chunk.chunk_id
            assert hits[0].score == pytest.approx(1.0, abs=1e-2)

    def test_vector_hits_are_ranked_and_whole(self, store):
        a, b = self.populate(store)
        query = vectors_for(a)[1]
        hits = store.search_vector(query, 3)
        assert len(hits) == 3 and store.search_vector(query, 0) == []
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        by_id = {c.chunk_id: (c, v) for c, v in zip(a + b, vectors_for(a + b))}
        for rank, hit in enumerate(hits, start=1):
            chunk, vector = by_id[hit.chunk.chunk_id]
            assert hit.chunk == chunk and hit.uri == chunk.metadata["uri"] and hit.ranks == {"dense": rank}
            assert hit.score == pytest.approx(float(vector @ query), abs=2e-2)

    def test_text_search_stems(self, store):
        self.populate(store)
        hits = store.search_text("heated body", 5)
        assert hits and hits[0].chunk.text == "aerodynamic heating of blunt bodies"

    def test_text_hits_are_ranked_and_whole(self, store):
        a, b = self.populate(store)
        hits = store.search_text("cats in the park", 5)
        assert [h.chunk for h in hits] == [a[1], a[0]]  # "park" only in the second
        assert [h.ranks for h in hits] == [{"bm25": 1}, {"bm25": 2}]
        assert hits[0].score > hits[1].score > 0 and hits[0].uri == "file:///a.txt"
        assert store.search_text("the of and", 5) == []     # stop words only: no terms, no hits
        assert store.search_text("zyzzyva", 5) == []

    def test_filters_apply_inside_both_retrievers(self, store):
        a, b = self.populate(store)
        hits = store.search_vector(vectors_for(a)[0], 10, filter={"kind": "pdf"})
        assert {h.chunk.chunk_id for h in hits} == {c.chunk_id for c in b}
        assert store.search_text("cats", 10, filter={"kind": "pdf"}) == []
        assert len(store.search_text("cats", 10, filter={"kind": "txt"})) == 2
        assert {h.chunk.chunk_id for h in store.search_vector(vectors_for(a)[0], 10, filter={"page": 3})} == \
               {c.chunk_id for c in b}

    def test_filter_table(self, store):
        """Every case of FILTER_CASES, in the dense and the BM25 retriever alike."""
        chunks = self.populate_filters(store)
        name_of = {c.chunk_id: name for name, c in chunks.items()}
        query = vectors_for([chunks["a"]])[0]
        wrong = []
        for where, expected in FILTER_CASES:
            dense = "".join(sorted(name_of[h.chunk.chunk_id] for h in store.search_vector(query, 10, where)))
            text = "".join(sorted(name_of[h.chunk.chunk_id] for h in store.search_text("common", 10, where)))
            if dense != expected or text != expected:
                wrong.append(f"{where}: expected {expected!r}, dense gave {dense!r}, bm25 gave {text!r}")
        assert not wrong, "\n".join(wrong)

    def test_filter_on_doc_id(self, store):
        chunks = self.populate_filters(store)
        hits = store.search_vector(vectors_for([chunks["a"]])[0], 10, {"doc_id": chunks["c"].doc_id})
        assert [h.chunk.chunk_id for h in hits] == [chunks["c"].chunk_id]

    @pytest.mark.parametrize("bad", [{"year": {"gte": "soon"}}, {"kind": {"like": "m%"}}, {"kind": {"in": []}},
                                     {"uri": {"prefix": ""}}, {"not": {}}, "kind=md", {"kind": [1, 2]}])
    def test_bad_filters_are_refused(self, store, bad):
        self.populate(store)
        with pytest.raises(QueryError):
            store.search_vector(vectors_for(make_chunks("x", ["q"]))[0], 5, bad)
        with pytest.raises(QueryError):
            store.search_text("cats", 5, bad)

    def test_candidate_lists_agree_with_the_hits(self, store):
        a, b = self.populate(store)
        vector = vectors_for(a)[0]
        dense = store.vector_candidates(vector, 3)
        text = store.text_candidates("cats park", 3)
        assert len(dense) == 3 and len(text) == 2
        chunks = store.fetch_chunks([key for key, _ in dense + text])
        assert [chunks[key].chunk_id for key, _ in dense] == \
               [h.chunk.chunk_id for h in store.search_vector(vector, 3)]
        assert [chunks[key].chunk_id for key, _ in text] == \
               [h.chunk.chunk_id for h in store.search_text("cats park", 3)]
        assert [score for _, score in dense] == pytest.approx([h.score for h in store.search_vector(vector, 3)])
        both = store.hybrid_candidates(vector, "cats park", 3, {"kind": "txt"})
        assert [k for k, _ in both[0]] == [k for k, _ in store.vector_candidates(vector, 3, {"kind": "txt"})]
        assert [k for k, _ in both[1]] == [k for k, _ in text]
        stored = store.candidate_vectors([key for key, _ in dense])
        expected = {c.chunk_id: v for c, v in zip(a + b, vectors_for(a + b))}
        wanted = np.stack([expected[chunks[key].chunk_id] for key, _ in dense])
        assert stored.shape == (3, DIM) and np.allclose((stored * wanted).sum(axis=1), 1.0, atol=1e-3)

    def test_candidates_of_deleted_chunks_are_left_out(self, store):
        a, _ = self.populate(store)
        dense = store.vector_candidates(vectors_for(a)[0], 4)
        keys = [key for key, _ in dense]
        gone = store.fetch_chunks(keys[:1])[keys[0]]
        store.delete_chunks([gone.chunk_id])
        assert keys[0] not in store.fetch_chunks(keys) and len(store.fetch_chunks(keys)) == 3

    def test_stats_report_the_count(self, store):
        self.populate(store)
        assert store.stats()["chunks"] == 4

    def test_data_survives_reopen(self, store, reopen):
        a, b = self.populate(store)
        store.close()
        again = reopen()
        try:
            assert again.count() == 4
            assert again.search_vector(vectors_for(b)[1], 1)[0].chunk.chunk_id == b[1].chunk_id
            assert again.search_text("transition", 1)[0].chunk.chunk_id == b[1].chunk_id
            assert again.get([a[1].chunk_id]) == [a[1]]
            assert {h.chunk.chunk_id for h in again.search_text("cats", 5, {"kind": {"ne": "pdf"}})} == \
                   {c.chunk_id for c in a}
            assert again.upsert(a, vectors_for(a)) == 0
        finally:
            again.close()
