"""Embedders: OpenVINO on CPUs and ONNX Runtime on GPUs by default; a hashing embedder for tests;
OpenAI-compatible APIs.

    embedder = open_embedder("auto")                # the default: see below
    embedder = open_embedder("openvino-int8")       # or "openvino:MODEL?precision=bf16&threads=2"
    embedder = open_embedder("onnx-int8")           # or "onnx:MODEL?precision=int8&device=cuda:1&threads=2"
    embedder = open_embedder("openai:text-embedding-3-small", base_url="http://127.0.0.1:8080/v1")
"""

from __future__ import annotations

from ragline import registry
from ragline.embed.base import Embedder, batched, token_budget_batches
from ragline.embed.device import device_count
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.errors import ConfigError


def open_embedder(spec: str = "onnx", **options: object) -> Embedder:
    """``backend`` or ``backend:argument``: ``auto``, ``openvino``, ``onnx``, ``onnx:MODEL``,
    ``hashing:DIM``, ``openai:MODEL``, or any backend a plugin registers (``ragline.registry``).

    ``auto`` (the engine's default) is ``openvino`` on a CPU and ``onnx`` on a GPU or where OpenVINO
    is not installed (``ragline.embed.device.select_backend``). Precision: ``openvino-bf16`` /
    ``openvino-int8`` / ``openvino-fp32``, ``onnx-int8`` / ``onnx-fp32`` / ``onnx-fp16``, or
    ``...:MODEL?precision=int8``; without one, each takes the best for the device (``device.py``).
    ``openai:MODEL`` takes the ``RemoteConfig`` fields as options (else ``RAGLINE_EMBED_*``).
    """
    name, _, argument = spec.partition(":")
    backend, precision = name, ""
    if not registry.is_known("embedder", name):
        backend, _, precision = name.partition("-")
    if not backend or not registry.is_known("embedder", backend):
        raise ConfigError(f"unknown embedder {spec!r}: use 'auto', 'openvino', 'openvino-int8', 'onnx', "
                          "'onnx-int8', 'onnx:MODEL', 'hashing:DIM' or 'openai:MODEL' (backends: "
                          f"{', '.join(registry.known('embedder'))})")
    factory = registry.resolve("embedder", backend)
    if precision:
        options = {"precision": precision, **options}
    embedder: Embedder = factory(argument, **options)
    return embedder


__all__ = ["DEFAULT_MODEL", "Embedder", "batched", "device_count", "open_embedder", "resolve_model",
           "token_budget_batches"]
