"""ONNX Runtime embedder (the default): CPU (fp32 or int8), or CUDA when onnxruntime-gpu sees a GPU.

    embedder = OnnxEmbedder()                      # all-MiniLM-L6-v2 from the shipped package
    vectors = embedder.embed(["a chunk", "another"])   # (2, 384) float32, L2-normalised
    OnnxEmbedder(precision="int8"), OnnxEmbedder(device="cuda:1")

Construction is cheap and picklable; the session loads on first use. The model variant, threads
and batch sizes come from ``device.select_placement``; each precision has its own ``revision``, so
the embedding cache never hands out a vector made by another variant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragline.embed.base import l2_normalise, token_budget_batches
from ragline.embed.device import CUDA, Placement, device_count, gpu_memory_bytes, physical_cores, select_placement
from ragline.embed.model import DEFAULT_MODEL, ModelSpec, resolve_model
from ragline.embed.tokenizer import ModelTokenizer, UsesModelTokenizer
from ragline.embed.variants import RECIPE_VERSION, ensure_variant
from ragline.errors import EmbedError


def _available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


class OnnxEmbedder(UsesModelTokenizer):
    def __init__(self, model: str = DEFAULT_MODEL, *, precision: str | None = None, device: str = "auto",
                 threads: int | None = None, token_budget: int | None = None, max_batch: int | None = None,
                 onnx_path: str | Path | None = None):
        """``onnx_path`` loads that ONNX file instead of a cached variant (for experiments)."""
        self.spec: ModelSpec = resolve_model(model)
        self.placement: Placement = self._place(device, precision, threads)
        self.precision = self.placement.precision
        self.device = self.placement.device
        self.device_id = self.placement.device_id
        self.threads = self.placement.threads
        self.token_budget = token_budget or self.placement.token_budget
        self.max_batch = max_batch or self.placement.max_batch
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.model_id = self.spec.model_id
        self.revision = self._revision()
        if self.onnx_path is not None:
            self.revision += f":file:{self.onnx_path.name}"
        self.max_tokens = self.spec.max_tokens
        self.tokenizer = ModelTokenizer(self.spec.path, self.max_tokens)
        self._session = None
        self._dim: int | None = None

    def _place(self, device: str, precision: str | None, threads: int | None) -> Placement:
        available = _available_providers()
        gpus = device_count() if CUDA in available and device != "cpu" else 0
        ordinal = int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0
        return select_placement(available, device, os.environ, precision=precision, cores=physical_cores(),
                                gpu_count=gpus, gpu_memory=gpu_memory_bytes(ordinal) if gpus else None,
                                threads=threads)

    def _revision(self) -> str:
        # fp32 keeps the revision it always had, so existing caches stay valid.
        revision = f"{self.spec.revision}:onnx:{self.spec.pooling}"
        if self.precision != "fp32":
            revision += f":{self.precision}.v{RECIPE_VERSION.get(self.precision, 1)}"
        return revision

    def providers(self) -> list[str]:
        return [p if isinstance(p, str) else p[0] for p in self.placement.providers]

    def model_path(self) -> Path:
        return self.onnx_path or ensure_variant(self.spec, self.precision)

    def _load(self):  # type: ignore[no-untyped-def]
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            try:
                self._session = ort.InferenceSession(str(self.model_path()), options,
                                                     providers=self.placement.providers)
            except EmbedError:
                raise
            except Exception as exc:
                raise EmbedError(f"cannot load ONNX model for {self.model_id}: {exc}") from exc
            self._inputs = {i.name for i in self._session.get_inputs()}
        return self._session

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def _forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The model's last hidden state (batch, tokens, dim) for one tokenized batch."""
        session = self._load()
        return session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        feeds = self.tokenizer.encode(texts)
        hidden = self._forward(feeds).astype(np.float32, copy=False)
        mask = feeds["attention_mask"][:, :, None].astype(np.float32)
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return l2_normalise(pooled)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:  # (0, dim), not (0, 0): callers stack it with other rows
            return np.zeros((0, self.dim), dtype=np.float32)
        lengths = [min(n + 2, self.max_tokens) for n in self.count(texts)]
        out: np.ndarray | None = None
        for batch in token_budget_batches(lengths, self.token_budget, self.max_batch):
            vectors = self._embed_batch([texts[i] for i in batch])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                self._dim = vectors.shape[1]
            out[batch] = vectors
        assert out is not None
        return out

    def embed_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text, its contextual token vectors (the model's last hidden state), L2-normalised,
        without padding and special tokens: the multi-vectors MaxSim re-ranking scores with."""
        texts = list(texts)
        special = np.array(sorted(self.tokenizer.special_ids()), dtype=np.int64)
        lengths = [min(n + 2, self.max_tokens) for n in self.count(texts)]
        out: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float32)] * len(texts)
        for batch in token_budget_batches(lengths, self.token_budget, self.max_batch):
            feeds = self.tokenizer.encode([texts[i] for i in batch])
            hidden = self._forward(feeds)
            keep = (feeds["attention_mask"] > 0) & ~np.isin(feeds["input_ids"], special)
            for row, i in enumerate(batch):
                out[i] = l2_normalise(hidden[row][keep[row]])
        return out

    def close(self) -> None:
        self._session = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_session"] = None
        return state
