"""The built-in embedder specs, as ``ragline.registry`` entries (kind "embedder"): each factory
takes the spec's argument (after ``:``) and the options, ``precision`` included when the spec
names one (``onnx-int8``).

    open_onnx("MODEL?threads=2", precision="int8")      # what open_embedder("onnx-int8:MODEL?threads=2") calls
"""

from __future__ import annotations

import logging
from typing import Any

from ragline.embed.base import Embedder
from ragline.embed.device import device_count
from ragline.embed.model import DEFAULT_MODEL
from ragline.errors import ConfigError

log = logging.getLogger("ragline.embed")

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


def _local(backend: str, argument: str, options: dict[str, Any]) -> Embedder:
    model, _, query = argument.partition("?")
    spec_options: dict[str, Any] = _onnx_options(query, backend)
    precision = options.pop("precision", None)
    if precision:
        spec_options["precision"] = precision
    merged = {**spec_options, **options}
    if backend == "auto":
        backend = _auto_backend(merged)
    if backend == "openvino":
        from ragline.embed.openvino import OpenVinoEmbedder
        return OpenVinoEmbedder(model or DEFAULT_MODEL, **merged)  # type: ignore[return-value]
    from ragline.embed.onnx import OnnxEmbedder
    return OnnxEmbedder(model or DEFAULT_MODEL, **merged)  # type: ignore[return-value]


def open_auto(argument: str = "", **options: Any) -> Embedder:
    """``openvino`` on a CPU where OpenVINO is installed, ``onnx`` on a GPU or without it."""
    return _local("auto", argument, options)


def open_onnx(argument: str = "", **options: Any) -> Embedder:
    return _local("onnx", argument, options)


def open_openvino(argument: str = "", **options: Any) -> Embedder:
    return _local("openvino", argument, options)


def open_hashing(argument: str = "", **options: Any) -> Embedder:
    """``hashing:DIM``: deterministic, for tests not about retrieval quality (other options ignored)."""
    if options.get("precision"):
        raise ConfigError(f"unknown embedder 'hashing-{options['precision']}': the hashing embedder has no "
                          "precisions; write 'hashing:DIM'")
    from ragline.embed.hashing import HashingEmbedder
    return HashingEmbedder(_hashing_dim(argument))


def open_openai(argument: str = "", **options: Any) -> Embedder:
    from ragline.embed.remote import RemoteConfig, RemoteEmbedder
    return RemoteEmbedder(RemoteConfig.resolve(argument, **options))  # type: ignore[return-value]


__all__ = ["open_auto", "open_hashing", "open_onnx", "open_openai", "open_openvino"]
