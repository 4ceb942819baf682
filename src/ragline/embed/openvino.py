"""OpenVINO embedder: the fastest CPU runtime measured here (fp32, bf16 where the CPU has it, int8).

    embedder = OpenVinoEmbedder()                        # bf16 on AVX512_BF16/AMX CPUs, else fp32
    vectors = embedder.embed(["a chunk", "another"])     # (2, 384) float32, L2-normalised
    OpenVinoEmbedder(precision="int8"), open_embedder("openvino-bf16"), open_embedder("openvino:MODEL?threads=2")

Everything but the forward pass is the ONNX embedder's (tokenizer, token-budget batching,
pooling, normalisation, per-token vectors): this class only converts the cached ONNX export to an
OpenVINO model once (cached beside it, under the same lock as the ONNX variants) and runs it.
fp32 and bf16 share one converted model (bf16 is an inference hint); int8 is an NNCF-quantized
copy. Each precision has its own ``revision``, so the embedding cache never mixes their vectors.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ragline.embed.device import (
    Placement,
    openvino_bf16_speedup,
    openvino_capabilities,
    openvino_inference_precision,
    physical_cores,
    select_openvino_placement,
)
from ragline.embed.onnx import OnnxEmbedder
from ragline.embed.variants import RECIPE_VERSION, ensure_variant, recipe
from ragline.errors import EmbedError

# The converted model each precision loads (bf16 runs the fp32 model with a bf16 hint).
OPENVINO_VARIANT = {"fp32": "openvino-fp32", "bf16": "openvino-fp32", "int8": "openvino-int8"}
RECIPE_VERSION.update({"openvino-fp32": 1, "openvino-int8": 1})
INSTALL_HINT = "pip install openvino nncf (or use the onnx embedder)"


def require_openvino():  # type: ignore[no-untyped-def]
    try:
        import openvino
    except ImportError as exc:
        raise EmbedError(f"the openvino embedder needs OpenVINO: {INSTALL_HINT}") from exc
    return openvino


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@recipe("openvino-fp32", suffix=".xml")
def build_openvino_fp32(source: Path, target: Path) -> None:
    """The ONNX export read by OpenVINO and saved as IR, weights kept in fp32 (OpenVINO would
    compress them to fp16 by default, which moves the vectors)."""
    ov = require_openvino()
    ov.save_model(ov.Core().read_model(str(source)), str(target), compress_to_fp16=False)


def quantize_int8(source: Path, target: Path, tokenizer: Any = None) -> None:
    """NNCF post-training int8 with the recipe ``_openvino_int8.DEFAULT_OPTIONS`` names, calibrated
    with ``tokenizer`` (the model's; the default model's when not given)."""
    from ragline.embed._openvino_int8 import DEFAULT_OPTIONS, quantize

    quantize(source, target, tokenizer=tokenizer, **DEFAULT_OPTIONS)


recipe("openvino-int8", suffix=".xml")(quantize_int8)


class OpenVinoEmbedder(OnnxEmbedder):
    def __init__(self, model: str | None = None, *, precision: str | None = None, device: str = "auto",
                 threads: int | None = None, token_budget: int | None = None, max_batch: int | None = None,
                 model_path: str | Path | None = None):
        """``model_path`` loads that OpenVINO (.xml) or ONNX file instead of a cached variant."""
        self._model_file = Path(model_path) if model_path else None
        kwargs = {"model": model} if model else {}
        super().__init__(**kwargs, precision=precision, device=device, threads=threads,  # type: ignore[arg-type]
                         token_budget=token_budget, max_batch=max_batch)
        if self._model_file is not None:
            self.revision += f":file:{self._model_file.name}"
        self._request = None

    def _place(self, device: str, precision: str | None, threads: int | None) -> Placement:
        require_openvino()
        self._capabilities = openvino_capabilities()
        placement = select_openvino_placement(device, os.environ, precision=precision,
                                              capabilities=self._capabilities, cores=physical_cores(),
                                              threads=threads)
        self._bf16_speedup = None
        chosen = placement.precision == "bf16" and not (precision or os.environ.get("RAGLINE_EMBED_PRECISION"))
        if chosen or placement.precision == "int8" and "BF16" in self._capabilities:
            # bf16 picked by default, or for int8's floating-point layers: only where it pays on this CPU.
            self._bf16_speedup = openvino_bf16_speedup(placement.threads)
        if chosen:
            placement = select_openvino_placement(
                device, os.environ, capabilities=self._capabilities, cores=physical_cores(), threads=threads,
                bf16_speedup=self._bf16_speedup)
        return placement

    def _revision(self) -> str:
        variant = OPENVINO_VARIANT[self.precision]
        self.inference_precision = openvino_inference_precision(self.precision, self._capabilities,
                                                                self._bf16_speedup)
        recipe = RECIPE_VERSION.get(variant, 1)
        revision = f"{self.spec.revision}:openvino:{self.spec.pooling}:{self.precision}.v{recipe}"
        # int8 leaves some layers in floating point: which one is part of what made the vectors.
        return revision + ("+bf16" if self.precision == "int8" and self.inference_precision == "bf16" else "")

    def providers(self) -> list[str]:
        return ["OpenVINO CPU"]

    def model_path(self) -> Path:
        if self._model_file is not None:
            return self._model_file
        variant = OPENVINO_VARIANT[self.precision]
        build = partial(quantize_int8, tokenizer=self.tokenizer) if variant == "openvino-int8" else None
        return ensure_variant(self.spec, variant, build)

    def _load(self):  # type: ignore[no-untyped-def]
        if self._session is None:
            ov = require_openvino()
            # OpenVINO pins a model's threads to the first cores: a model on fewer threads than
            # the cores must not, or every such copy (the server's query copies, its ingest copy)
            # lands on core 0. Measured on 2 cores, two 1-thread copies embedding at once: 133
            # queries/s pinned (0.99 cores busy) against 153-163 unpinned.
            config = {"INFERENCE_NUM_THREADS": self.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                      "INFERENCE_PRECISION_HINT": self.inference_precision,
                      "ENABLE_CPU_PINNING": self.threads >= physical_cores()}
            try:
                core = ov.Core()
                compiled = core.compile_model(core.read_model(str(self.model_path())), "CPU", config)
            except EmbedError:
                raise
            except Exception as exc:
                raise EmbedError(f"cannot load the OpenVINO model for {self.model_id}: {exc}") from exc
            self._inputs = {name for port in compiled.inputs for name in port.get_names()}
            self._session = compiled
            self._request = compiled.create_infer_request()
        return self._session

    def _forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        # One infer request serves every call, and it is not thread-safe ("Infer Request is
        # busy"): the server embeds queries and ingests on different threads at once.
        with self.__dict__.setdefault("_infer_lock", threading.Lock()):
            self._load()
            assert self._request is not None
            result = self._request.infer({k: v for k, v in feeds.items() if k in self._inputs})  # copies out
        return np.asarray(result[0], dtype=np.float32)

    def close(self) -> None:
        self._request = None
        super().close()

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_request"] = None
        state.pop("_infer_lock", None)
        return state


__all__ = ["OpenVinoEmbedder", "openvino_installed"]
