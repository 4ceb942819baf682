"""Document-level results over a handcrafted store whose chunk scores are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from ragline.errors import QueryError
from ragline.group import doc_score, group_by_doc
from ragline.ids import content_hash, make_chunk_id, make_doc_id
from ragline.records import Chunk, Hit

QUERY = "how do filters work"


def make_chunk(doc: str, index: int, text: str, **metadata) -> Chunk:
    doc_id = make_doc_id("test", doc)
    digest = content_hash(text)
    return Chunk(make_chunk_id(doc_id, index, digest), doc_id, index, text, 10 * index, 10 * index + len(text),
                 len(text.split()), digest, {"uri": doc, **metadata})


def with_cosine(query: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector whose inner product with the unit vector ``query`` is ``cosine``."""
    other = np.random.default_rng(seed).standard_normal(len(query))
    other -= (other @ query) * query
    other /= np.linalg.norm(other)
    return (cosine * query + np.sqrt(1 - cosine ** 2) * other).astype(np.float32)


@pytest.fixture()
def store_with_scores(tmp_path, hashing_embedder):
    """Builds an engine whose dense scores for QUERY are the given cosines (to float16 precision)."""
    from ragline.engine import Engine

    engine = Engine.open(f"local:{tmp_path / 'store'}", embedder=hashing_embedder)
    query = engine.embedder.embed([QUERY])[0]

    def build(docs: dict[str, list[float]], **metadata) -> dict[str, list[Chunk]]:
        chunks, vectors, by_doc = [], [], {}
        for doc, cosines in docs.items():
            by_doc[doc] = []
            for index, cosine in enumerate(cosines):
                chunk = make_chunk(doc, index, f"{doc} passage {index} about filters", **metadata)
                chunks.append(chunk)
                by_doc[doc].append(chunk)
                vectors.append(with_cosine(query, cosine, seed=len(chunks)))
        engine.store.upsert(chunks, np.stack(vectors))
        engine.store.flush()
        return by_doc

    yield engine, build
    engine.close()


def test_doc_score_rewards_siblings_but_the_best_chunk_dominates():
    assert doc_score([0.9]) == 0.9
    assert doc_score([0.8, 0.7, 0.6]) == pytest.approx(0.8 + 0.7 / 2 + 0.6 / 3)
    assert doc_score([0.1, -0.3]) == 0.1  # a negative sibling does not pull a document down
    with pytest.raises(ValueError):
        doc_score([])


def test_group_by_doc_on_dense_scores(store_with_scores):
    engine, build = store_with_scores
    docs = build({"file:///a.txt": [0.9, 0.2], "file:///b.txt": [0.6, 0.8, 0.7],
                  "file:///c.txt": [0.85], "file:///d.txt": [0.1, -0.3]})
    chunk_hits = engine.search(QUERY, 10, mode="dense", snippets=False)
    assert [round(h.score, 2) for h in chunk_hits] == [0.9, 0.85, 0.8, 0.7, 0.6, 0.2, 0.1, -0.3]
    results = engine.search(QUERY, 3, mode="dense", group_by="doc")
    assert [h.uri for h in results] == ["file:///b.txt", "file:///a.txt", "file:///c.txt"]
    b, a, c = results
    assert b.chunk.chunk_id == docs["file:///b.txt"][1].chunk_id  # its best chunk, not its first
    assert b.score == pytest.approx(0.8, abs=2e-3)
    assert b.doc_score == pytest.approx(0.8 + 0.7 / 2 + 0.6 / 3, abs=5e-3)
    assert [cid for cid, _ in b.doc_matches] == [docs["file:///b.txt"][i].chunk_id for i in (1, 2, 0)]
    assert a.doc_score == pytest.approx(0.9 + 0.2 / 2, abs=5e-3) and len(a.doc_matches) == 2
    assert c.doc_score == pytest.approx(0.85, abs=2e-3) and len(c.doc_matches) == 1
    assert all(h.snippet is not None and h.snippet.highlights for h in results)
    record = b.to_dict()
    assert record["matches"] == 3 and record["doc_score"] == b.doc_score
    assert record["snippet"].count("**filters**") == 1 and record["start"] == b.chunk.start


def test_group_by_doc_fetches_deeper_until_k_documents(store_with_scores):
    engine, build = store_with_scores
    # One document owns the 120 best chunks; the next documents come after all of them.
    build({"file:///big.txt": list(np.linspace(0.99, 0.9, 120)), "file:///y.txt": [0.5],
           "file:///z.txt": [0.4, 0.1]})
    assert {h.chunk.doc_id for h in engine.search(QUERY, 40, mode="dense", snippets=False)} == \
        {make_doc_id("test", "file:///big.txt")}  # the first fetch holds a single document
    hybrid = engine.search(QUERY, 3, mode="hybrid", group_by="doc")
    assert {h.uri for h in hybrid} == {"file:///big.txt", "file:///y.txt", "file:///z.txt"}
    dense = engine.search(QUERY, 3, mode="dense", group_by="doc")
    assert [h.uri for h in dense] == ["file:///big.txt", "file:///y.txt", "file:///z.txt"]
    assert len(dense[0].doc_matches) == 120
    # Fewer documents than k: every one, no endless loop.
    assert len(engine.search(QUERY, 10, mode="bm25", group_by="doc")) == 3


def test_group_by_doc_with_a_filter(store_with_scores):
    engine, build = store_with_scores
    build({"file:///keep/a.txt": [0.3, 0.2], "file:///drop/b.txt": [0.9]})
    results = engine.search(QUERY, 5, mode="hybrid", group_by="doc",
                            filter={"uri": {"prefix": "file:///keep/"}})
    assert [h.uri for h in results] == ["file:///keep/a.txt"] and len(results[0].doc_matches) == 2


def test_unknown_group_by_is_a_query_error(store_with_scores):
    engine, _build = store_with_scores
    with pytest.raises(QueryError, match="unknown group_by"):
        engine.search(QUERY, 3, group_by="folder")


def test_group_by_doc_pure_function_orders_ties_stably():
    a = make_chunk("file:///a", 0, "x")
    b = make_chunk("file:///b", 0, "y")
    hits = [Hit(b, 0.5, "file:///b"), Hit(a, 0.5, "file:///a")]
    grouped = group_by_doc(hits, 5)
    assert [h.chunk.doc_id for h in grouped] == sorted([a.doc_id, b.doc_id])
    assert group_by_doc(hits, 1) == grouped[:1]
