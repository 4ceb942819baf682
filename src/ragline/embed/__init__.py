"""Embedders: ONNX Runtime by default; a hashing embedder for tests; OpenAI-compatible APIs.

    embedder = open_embedder("onnx")                # or "onnx:/path/to/model", "hashing:64"
    embedder = open_embedder("openai:text-embedding-3-small", base_url="http://127.0.0.1:8080/v1")
"""

from __future__ import annotations

from ragline.embed.base import Embedder, batched, token_budget_batches
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.errors import ConfigError


def open_embedder(spec: str = "onnx", **options: object) -> Embedder:
    """``backend`` or ``backend:argument``: ``onnx``, ``onnx:MODEL``, ``hashing:DIM``, ``openai:MODEL``.

    ``openai:MODEL`` takes the ``RemoteConfig`` fields as options (else ``RAGLINE_EMBED_*``).
    """
    backend, _, argument = spec.partition(":")
    if backend == "onnx":
        from ragline.embed.onnx import OnnxEmbedder
        return OnnxEmbedder(argument or DEFAULT_MODEL, **options)  # type: ignore[arg-type]
    if backend == "hashing":
        from ragline.embed.hashing import HashingEmbedder
        return HashingEmbedder(int(argument or 64))
    if backend == "openai":
        from ragline.embed.remote import RemoteConfig, RemoteEmbedder
        return RemoteEmbedder(RemoteConfig.resolve(argument, **options))
    raise ConfigError(f"unknown embedder {backend!r}: use 'onnx', 'onnx:MODEL', 'hashing:DIM' "
                      "or 'openai:MODEL'")


__all__ = ["DEFAULT_MODEL", "Embedder", "batched", "open_embedder", "resolve_model",
           "token_budget_batches"]
