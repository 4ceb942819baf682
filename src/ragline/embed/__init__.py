"""Embedders: ONNX Runtime by default; a hashing embedder for tests.

    embedder = open_embedder("onnx")                # or "onnx:/path/to/model", "hashing:64"
"""

from __future__ import annotations

from ragline.embed.base import Embedder, batched, token_budget_batches
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.errors import ConfigError


def open_embedder(spec: str = "onnx", **options: object) -> Embedder:
    """``backend`` or ``backend:argument``: ``onnx``, ``onnx:MODEL``, ``hashing:DIM``."""
    backend, _, argument = spec.partition(":")
    if backend == "onnx":
        from ragline.embed.onnx import OnnxEmbedder
        return OnnxEmbedder(argument or DEFAULT_MODEL, **options)  # type: ignore[arg-type]
    if backend == "hashing":
        from ragline.embed.hashing import HashingEmbedder
        return HashingEmbedder(int(argument or 64))
    raise ConfigError(f"unknown embedder {backend!r}: use 'onnx', 'onnx:MODEL' or 'hashing:DIM'")


__all__ = ["DEFAULT_MODEL", "Embedder", "batched", "open_embedder", "resolve_model",
           "token_budget_batches"]
