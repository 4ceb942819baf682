"""Embedders: ONNX Runtime by default; a hashing embedder for tests; OpenAI-compatible APIs.

    embedder = open_embedder("onnx")                # or "onnx:/path/to/model", "hashing:64"
    embedder = open_embedder("onnx-int8")           # or "onnx:MODEL?precision=int8&device=cuda:1&threads=2"
    embedder = open_embedder("openai:text-embedding-3-small", base_url="http://127.0.0.1:8080/v1")
"""

from __future__ import annotations

from ragline.embed.base import Embedder, batched, token_budget_batches
from ragline.embed.device import device_count
from ragline.embed.model import DEFAULT_MODEL, resolve_model
from ragline.errors import ConfigError

# Options an ``onnx`` spec may carry after ``?``, and how to read them.
_ONNX_OPTIONS = {"precision": str, "device": str, "threads": int, "token_budget": int, "max_batch": int}


def _onnx_options(query: str) -> dict[str, object]:
    from urllib.parse import parse_qsl

    options: dict[str, object] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in _ONNX_OPTIONS:
            raise ConfigError(f"unknown onnx embedder option {key!r}: use {', '.join(_ONNX_OPTIONS)}")
        try:
            options[key] = _ONNX_OPTIONS[key](value)
        except ValueError as exc:
            raise ConfigError(f"onnx embedder option {key}={value!r} is not a {_ONNX_OPTIONS[key].__name__}") from exc
        if _ONNX_OPTIONS[key] is int and options[key] < 1:  # type: ignore[operator]
            raise ConfigError(f"onnx embedder option {key}={value!r} must be at least 1")
    return options


def _hashing_dim(argument: str) -> int:
    try:
        dim = int(argument or 64)
    except ValueError as exc:
        raise ConfigError(f"hashing embedder: 'hashing:DIM' needs a whole number, got {argument!r}") from exc
    if not 1 <= dim <= 65536:
        raise ConfigError(f"hashing embedder: dimension must be in 1..65536, got {dim}")
    return dim


def open_embedder(spec: str = "onnx", **options: object) -> Embedder:
    """``backend`` or ``backend:argument``: ``onnx``, ``onnx:MODEL``, ``hashing:DIM``, ``openai:MODEL``.

    ONNX precision: ``onnx-int8`` / ``onnx-fp32`` / ``onnx-fp16``, or ``onnx:MODEL?precision=int8``;
    plain ``onnx`` takes the default for the device (see ``ragline.embed.device``).
    ``openai:MODEL`` takes the ``RemoteConfig`` fields as options (else ``RAGLINE_EMBED_*``).
    """
    backend, _, argument = spec.partition(":")
    backend, _, precision = backend.partition("-")
    if backend == "onnx":
        from ragline.embed.onnx import OnnxEmbedder

        model, _, query = argument.partition("?")
        spec_options = _onnx_options(query)
        if precision:
            spec_options["precision"] = precision
        return OnnxEmbedder(model or DEFAULT_MODEL, **{**spec_options, **options})  # type: ignore[arg-type]
    if backend == "hashing" and not precision:
        from ragline.embed.hashing import HashingEmbedder
        return HashingEmbedder(_hashing_dim(argument))
    if backend == "openai":
        from ragline.embed.remote import RemoteConfig, RemoteEmbedder
        return RemoteEmbedder(RemoteConfig.resolve(argument, **options))
    raise ConfigError(f"unknown embedder {spec!r}: use 'onnx', 'onnx-int8', 'onnx:MODEL', 'hashing:DIM' "
                      "or 'openai:MODEL'")


__all__ = ["DEFAULT_MODEL", "Embedder", "batched", "device_count", "open_embedder", "resolve_model",
           "token_budget_batches"]
