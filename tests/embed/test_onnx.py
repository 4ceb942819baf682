from __future__ import annotations

import json

import numpy as np
import pytest

from ragline.chunk import Chunker, ChunkerConfig
from ragline.embed.base import token_budget_batches
from ragline.embed.model import resolve_model
from ragline.errors import EmbedError
from ragline.ids import make_doc_id
from ragline.parse import parse_bytes
from ragline.records import Document
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def real_chunks(onnx_embedder) -> list[str]:
    """100 real chunks from the sample corpus, cut by the model's own tokenizer."""
    chunker = Chunker(onnx_embedder, onnx_embedder.max_tokens, ChunkerConfig(256, 32))
    texts: list[str] = []
    for path in sorted(SAMPLES.rglob("*")):
        if path.suffix in (".md", ".html", ".pdf", ".txt"):
            parsed = parse_bytes(path.read_bytes(), path.name)
            doc = Document(make_doc_id("t", str(path)), str(path), "v", parsed.text, parsed.kind)
            texts += [c.text for c in chunker(doc)]
        elif path.suffix == ".jsonl":
            texts += [json.loads(line)["text"] for line in path.read_text().splitlines()]
    assert len(texts) >= 100
    return texts[:100]


@pytest.mark.slow
def test_parity_with_sentence_transformers(onnx_embedder, real_chunks):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(resolve_model().path), device="cpu")
    expected = reference.encode(real_chunks, normalize_embeddings=True, batch_size=32)
    ours = onnx_embedder.embed(real_chunks)
    cosine = (ours * expected).sum(axis=1)
    assert cosine.min() >= 0.999, cosine.min()


def test_embedder_contract(onnx_embedder, real_chunks):
    texts = real_chunks[:12]
    batch = onnx_embedder.embed(texts)
    assert batch.shape == (12, 384) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.vstack([onnx_embedder.embed([t]) for t in texts])
    assert np.allclose(batch, singles, atol=1e-4)  # batching and padding never change a vector
    assert onnx_embedder.dim == 384 and onnx_embedder.max_tokens == 256


def test_reference_vector_is_stable(onnx_embedder):
    """A pinned number: cosine of two related sentences under all-MiniLM-L6-v2."""
    a, b = onnx_embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
    assert float(a @ b) == pytest.approx(0.7553, abs=0.01)


def test_texts_longer_than_the_model_are_truncated_not_fatal(onnx_embedder):
    assert onnx_embedder.embed(["word " * 2000]).shape == (1, 384)


@pytest.mark.parametrize("lengths, budget, max_batch, expected", [
    ([10, 10, 10, 10], 40, 8, [[0, 1, 2, 3]]),
    ([10, 10, 10, 10], 20, 8, [[0, 1], [2, 3]]),
    ([100, 5, 50, 6], 200, 8, [[1, 3, 2], [0]]),
    ([100, 5, 50, 6], 100, 8, [[1, 3], [2], [0]]),
    ([5, 5, 5], 1000, 2, [[0, 1], [2]]),
    ([300], 100, 8, [[0]]),
])
def test_token_budget_batches(lengths, budget, max_batch, expected):
    assert token_budget_batches(lengths, budget, max_batch) == expected


def test_hub_path_fails_with_an_actionable_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedError, match="local model directory"):
        resolve_model("some-org/model-that-is-not-on-disk")


def test_cache_keys_differ_by_model_and_revision(tmp_path):
    from ragline.embed.cache import EmbeddingCache
    from ragline.store.local.db import connect

    db = connect(tmp_path / "c.db")
    a, b, c = (EmbeddingCache(db, "m1", "r1"), EmbeddingCache(db, "m1", "r2"), EmbeddingCache(db, "m2", "r1"))
    a.store(["h"], np.ones((1, 4), dtype=np.float32))
    assert a.lookup(["h"])[1] == [] and b.lookup(["h"])[1] == [0] and c.lookup(["h"])[1] == [0]
