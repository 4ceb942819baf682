"""The OpenVINO embedder against the ONNX Runtime fp32 reference, on real chunks and the real model."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from ragline.embed import open_embedder
from ragline.embed.device import openvino_capabilities
from ragline.embed.onnx import OnnxEmbedder
from ragline.errors import EmbedError

pytest.importorskip("openvino")
from ragline.embed.openvino import OpenVinoEmbedder

HAS_BF16 = "BF16" in openvino_capabilities()


def default_precision(threads: int) -> str:
    from ragline.embed.device import BF16_MIN_SPEEDUP, openvino_bf16_speedup

    return "bf16" if HAS_BF16 and openvino_bf16_speedup(threads) >= BF16_MIN_SPEEDUP else "fp32"
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bf16 kernels (AVX512_BF16 or AMX)")


@pytest.fixture(scope="module")
def chunks() -> list[str]:
    from ragline.bench import cranfield_chunks

    reference = OnnxEmbedder(device="cpu")
    return cranfield_chunks(reference, reference.max_tokens, 60, Path(__file__).parents[2] / "datasets" / "cranfield")


@pytest.fixture(scope="module")
def fp32_vectors(onnx_embedder, chunks) -> np.ndarray:
    return onnx_embedder.embed(chunks)


@pytest.fixture(scope="module")
def ov_fp32() -> OpenVinoEmbedder:
    return OpenVinoEmbedder(precision="fp32")


@pytest.fixture(scope="module")
def ov_bf16() -> OpenVinoEmbedder:
    return OpenVinoEmbedder(precision="bf16")


def _contract(embedder, texts: list[str], batch_tolerance: float) -> None:
    batch = embedder.embed(texts)
    assert batch.shape == (len(texts), 384) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.vstack([embedder.embed([t]) for t in texts])
    assert np.abs(batch - singles).max() <= batch_tolerance  # batching and padding never move a vector
    assert embedder.dim == 384 and embedder.max_tokens == 256
    assert embedder.embed([]).shape[0] == 0


def test_fp32_contract(ov_fp32, chunks):
    _contract(ov_fp32, chunks[:12], 1e-4)


@needs_bf16
def test_bf16_contract(ov_bf16, chunks):
    _contract(ov_bf16, chunks[:12], 2e-2)


def test_fp32_matches_onnx_runtime(ov_fp32, chunks, fp32_vectors):
    cosine = (ov_fp32.embed(chunks) * fp32_vectors).sum(axis=1)
    assert cosine.min() >= 0.99999, cosine.min()


@needs_bf16
def test_bf16_stays_within_the_default_quality_bar(ov_bf16, chunks, fp32_vectors):
    from ragline.embed.quality import mean_cosine_error, topk_overlap

    vectors = ov_bf16.embed(chunks)
    assert mean_cosine_error(fp32_vectors, vectors) <= 1e-3
    assert (vectors * fp32_vectors).sum(axis=1).min() >= 0.995
    assert topk_overlap(fp32_vectors, fp32_vectors, vectors, vectors, 10, exclude_self=True) >= 0.97


def test_reference_vector_is_stable(ov_fp32):
    """The same pinned number as the ONNX embedder's: cosine of two related sentences."""
    a, b = ov_fp32.embed(["A man is eating food.", "A man is eating a piece of bread."])
    assert float(a @ b) == pytest.approx(0.7553, abs=0.01)


def test_texts_longer_than_the_model_are_truncated_not_fatal(ov_fp32):
    assert ov_fp32.embed(["word " * 2000]).shape == (1, 384)


def test_token_vectors_match_onnx_runtime(ov_fp32, onnx_embedder, chunks):
    ours, reference = ov_fp32.embed_tokens(chunks[:4]), onnx_embedder.embed_tokens(chunks[:4])
    for a, b in zip(ours, reference):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-4)


def test_each_precision_has_its_own_cache_revision(ov_fp32, ov_bf16, onnx_embedder):
    int8 = OpenVinoEmbedder(precision="int8")  # construction is cheap: nothing is built yet
    revisions = {ov_fp32.revision, ov_bf16.revision if HAS_BF16 else "bf16", int8.revision, onnx_embedder.revision}
    assert len(revisions) == 4 and all("openvino" in r for r in (ov_fp32.revision, int8.revision))


def test_specs_name_the_backend_and_precision():
    embedder = open_embedder("openvino-fp32")
    assert isinstance(embedder, OpenVinoEmbedder) and embedder.precision == "fp32"
    embedder = open_embedder("openvino:sentence-transformers/all-MiniLM-L6-v2?precision=int8&threads=1")
    assert (embedder.precision, embedder.threads) == ("int8", 1)
    default = open_embedder("openvino")
    assert default.precision == default_precision(default.threads)
    auto = open_embedder("auto")
    assert isinstance(auto, OpenVinoEmbedder) and auto.precision == default.precision
    assert isinstance(open_embedder("auto:?device=cpu&precision=fp32"), OpenVinoEmbedder)


def test_missing_openvino_falls_back_to_onnx_runtime_or_says_what_to_install(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` meets when it is absent
    with caplog.at_level(logging.WARNING, logger="ragline.embed"):
        embedder = open_embedder("auto")
    assert type(embedder) is OnnxEmbedder and "OpenVINO is not installed" in caplog.text
    with pytest.raises(EmbedError, match="pip install openvino"):
        open_embedder("openvino")


def test_a_loaded_embedder_pickles_without_its_compiled_model(ov_fp32):
    import pickle

    before = ov_fp32.embed(["a chunk of text"])
    clone = pickle.loads(pickle.dumps(ov_fp32))
    assert clone._session is None and np.allclose(clone.embed(["a chunk of text"]), before, atol=1e-6)


def test_the_openvino_model_is_converted_once_and_cached_beside_the_export(ov_fp32):
    from ragline.embed.export import ensure_onnx

    path = ov_fp32.model_path()
    assert path.suffix == ".xml" and path.with_suffix(".bin").exists()
    assert path.parent == ensure_onnx(ov_fp32.spec).parent
    assert OpenVinoEmbedder(precision="fp32").model_path() == path


@pytest.mark.slow
def test_int8_passes_the_int8_quality_bar(chunks, fp32_vectors):
    """NNCF int8 (built on first use, ~1 min): the bar of README "Embedding speed and precision"."""
    from ragline.embed.quality import mean_cosine_error

    int8 = OpenVinoEmbedder(precision="int8")
    vectors = int8.embed(chunks)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert mean_cosine_error(fp32_vectors, vectors) <= 0.005
    singles = np.vstack([int8.embed([t]) for t in chunks[:6]])
    assert np.abs(vectors[:6] - singles).max() <= 5e-2


@pytest.mark.slow
def test_parity_with_sentence_transformers(ov_fp32, chunks):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(ov_fp32.spec.path), device="cpu")
    expected = reference.encode(chunks, normalize_embeddings=True, batch_size=32)
    cosine = (ov_fp32.embed(chunks) * expected).sum(axis=1)
    assert cosine.min() >= 0.999, cosine.min()
