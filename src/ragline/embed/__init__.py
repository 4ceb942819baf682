"""Embedders: OpenVINO on CPUs and ONNX Runtime on GPUs by default; a hashing embedder for tests;
OpenAI-compatible APIs.

    embedder = open_embedder("auto")                # the default: see below
    embedder = open_embedder("openvino-int8")       # or "openvino:MODEL?precision=bf16&threads=2"
    embedder = open_embedder("onnx-int8")           # or "onnx:MODEL?precision=int8&device=cuda:1&threads=2"
    embedder = open_embedder("openai:text-embedding-3-small", base_url="http://127.0.0.1:8080/v1")
"""

from __future__ import annotations

import logging

from ragline.embed.base import Embedder, batched, token_budget_batches
from ragline.embed.device import device_count
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.errors import ConfigError

log = logging.getLogger(__name__)

# Options an ``onnx`` / ``openvino`` / ``auto`` spec may carry after ``?``, and how to read them.
_ONNX_OPTIONS = {"precision": str, "device": str, "threads": int, "token_budget": int, "max_batch": int}
_LOCAL_BACKENDS = ("auto", "onnx", "openvino")


def _onnx_options(query: str, backend: str = "onnx") -> dict[str, object]:
    from urllib.parse import parse_qsl

    options: dict[str, object] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in _ONNX_OPTIONS:
            raise ConfigError(f"unknown {backend} embedder option {key!r}: use {', '.join(_ONNX_OPTIONS)}")
        try:
            options[key] = _ONNX_OPTIONS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{backend} embedder option {key}={value!r} is not a "
                              f"{_ONNX_OPTIONS[key].__name__}") from exc
        if _ONNX_OPTIONS[key] is int and options[key] < 1:  # type: ignore[operator]
            raise ConfigError(f"{backend} embedder option {key}={value!r} must be at least 1")
    return options


def _hashing_dim(argument: str) -> int:
    try:
        dim = int(argument or 64)
    except ValueError as exc:
        raise ConfigError(f"hashing embedder: 'hashing:DIM' needs a whole number, got {argument!r}") from exc
    if not 1 <= dim <= 65536:
        raise ConfigError(f"hashing embedder: dimension must be in 1..65536, got {dim}")
    return dim


def _auto_backend(options: dict[str, object]) -> str:
    """``openvino`` on a CPU where OpenVINO is installed, else ``onnx`` (with a log line saying why)."""
    import os

    from ragline.embed.device import select_backend
    from ragline.embed.onnx import _available_providers
    from ragline.embed.openvino import INSTALL_HINT, openvino_installed

    available = _available_providers()
    device = str(options.get("device", "auto"))
    installed = openvino_installed()
    gpus = device_count() if "CUDAExecutionProvider" in available and device != "cpu" else 0
    backend = select_backend(available, device, os.environ, openvino_installed=installed, gpu_count=gpus)
    if backend == "onnx" and not installed and not gpus and not device.startswith("cuda"):
        log.warning("OpenVINO is not installed: embedding on the CPU with ONNX Runtime instead, about half "
                    "as fast (%s)", INSTALL_HINT)
    return backend


def open_embedder(spec: str = "onnx", **options: object) -> Embedder:
    """``backend`` or ``backend:argument``: ``auto``, ``openvino``, ``onnx``, ``onnx:MODEL``,
    ``hashing:DIM``, ``openai:MODEL``.

    ``auto`` (the engine's default) is ``openvino`` on a CPU and ``onnx`` on a GPU or where OpenVINO
    is not installed (``ragline.embed.device.select_backend``). Precision: ``openvino-bf16`` /
    ``openvino-int8`` / ``openvino-fp32``, ``onnx-int8`` / ``onnx-fp32`` / ``onnx-fp16``, or
    ``...:MODEL?precision=int8``; without one, each takes the best for the device (``device.py``).
    ``openai:MODEL`` takes the ``RemoteConfig`` fields as options (else ``RAGLINE_EMBED_*``).
    """
    backend, _, argument = spec.partition(":")
    backend, _, precision = backend.partition("-")
    if backend in _LOCAL_BACKENDS:
        model, _, query = argument.partition("?")
        spec_options = _onnx_options(query, backend)
        if precision:
            spec_options["precision"] = precision
        merged = {**spec_options, **options}
        if backend == "auto":
            backend = _auto_backend(merged)
        if backend == "openvino":
            from ragline.embed.openvino import OpenVinoEmbedder
            return OpenVinoEmbedder(model or DEFAULT_MODEL, **merged)  # type: ignore[arg-type,return-value]
        from ragline.embed.onnx import OnnxEmbedder
        return OnnxEmbedder(model or DEFAULT_MODEL, **merged)  # type: ignore[arg-type,return-value]
    if backend == "hashing" and not precision:
        from ragline.embed.hashing import HashingEmbedder
        return HashingEmbedder(_hashing_dim(argument))
    if backend == "openai":
        from ragline.embed.remote import RemoteConfig, RemoteEmbedder
        return RemoteEmbedder(RemoteConfig.resolve(argument, **options))
    raise ConfigError(f"unknown embedder {spec!r}: use 'auto', 'openvino', 'openvino-int8', 'onnx', "
                      "'onnx-int8', 'onnx:MODEL', 'hashing:DIM' or 'openai:MODEL'")


__all__ = ["DEFAULT_MODEL", "Embedder", "batched", "device_count", "open_embedder", "resolve_model",
           "token_budget_batches"]
