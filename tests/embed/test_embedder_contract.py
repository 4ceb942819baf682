"""The shipped EmbedderContract on the built-in embedders: hashing, ONNX Runtime fp32, OpenVINO
fp32, and the remote ``openai:`` embedder against the real local OpenAI-compatible test server."""

from __future__ import annotations

import pytest

from ragline.embed import open_embedder
from ragline.testing.embedder import EmbedderContract
from tests.embed.remote_server import EmbeddingServer


class TestHashingEmbedder(EmbedderContract):
    atol = 1e-6

    @pytest.fixture(scope="class")
    @classmethod
    def make_embedder(cls):
        return lambda: open_embedder("hashing:384")


class TestOnnxEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def make_embedder(cls):
        return lambda: open_embedder("onnx-fp32", device="cpu")


class TestOpenVinoEmbedder(EmbedderContract):
    atol = 1e-4  # OpenVINO's kernels differ with the padded batch shape (tests/embed/test_openvino.py)

    @pytest.fixture(scope="class")
    @classmethod
    def make_embedder(cls):
        return lambda: open_embedder("openvino-fp32")


class TestRemoteEmbedder(EmbedderContract):
    token_vectors = False  # an embeddings API returns pooled vectors only
    @pytest.fixture(scope="class")
    @classmethod
    def make_embedder(cls, hashing_embedder):
        with EmbeddingServer(hashing_embedder) as server:
            yield lambda: open_embedder("openai:test-embed", base_url=server.base_url)
